/* fault_rt: what a first touch of fresh anonymous memory costs in Dune mode.
 * Writes one byte to each 4 KiB page of an N-page region (argv[1], default 512)
 * in three ways, each on its own fresh mmap:
 *   fresh   never touched before (4 KiB host pages: MADV_NOHUGEPAGE)
 *   zero    read by the host first (host PTEs point to the zero page)
 *   huge    never touched, 2 MiB aligned, host THP allowed (MADV_HUGEPAGE)
 * and prints "FAULT <kind> n=<N>" before each.  The lab's round-trip test counts
 * VM exits between those marks.  Every byte is read back. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include "../test_util.h"

#define TWO_MIB (2UL << 20)

static char *region(long n, int advice)
{
	size_t len = n * 4096UL;
	char *raw = mmap(NULL, len + TWO_MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	TEST_ASSERT(raw != MAP_FAILED);
	p = (char *)(((uintptr_t)raw + TWO_MIB - 1) & ~(TWO_MIB - 1));
	TEST_ASSERT(madvise(p, len, advice) == 0);
	return p;
}

static void touch(const char *kind, char *p, long n)
{
	long i;

	printf("FAULT %s n=%ld\n", kind, n);
	fflush(stdout);
	for (i = 0; i < n; i++)
		p[i * 4096] = (char)(i | 1);
	for (i = 0; i < n; i++)
		TEST_ASSERT(p[i * 4096] == (char)(i | 1));
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 512, i;
	char *fresh, *zero, *huge;
	volatile char sink = 0;

	test_name = "fault_rt";
	fresh = region(n, MADV_NOHUGEPAGE);
	zero = region(n, MADV_NOHUGEPAGE);
	huge = region(n, MADV_HUGEPAGE);
	for (i = 0; i < n; i++)
		sink += zero[i * 4096];		/* host read: zero page */
	(void)sink;
	test_enter("fault_rt");
	touch("fresh", fresh, n);
	touch("zero", zero, n);
	touch("huge", huge, n);
	printf("FAULT end\n");
	test_pass();
	return 0;
}
