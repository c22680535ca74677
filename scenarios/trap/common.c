/*
 * common.c - failure, sample buffers, fresh memory, and the metric line.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "trap.h"

/* Usable from signal and trap handlers: no stdio, no errno, no locks. */
void fail(const char *fmt, ...)
{
	char buf[512] = "FAIL ";
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + 5, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	n = n < 0 ? 5 : (int)strlen(buf);
	buf[n++] = '\n';
	dune_syscall6(SYS_write, 1, (long)buf, n, 0, 0, 0);
	for (;;)
		dune_syscall6(SYS_exit_group, 1, 0, 0, 0, 0, 0);
}

uint64_t *alloc_samples(size_t n)
{
	size_t bytes = (n ? n : 1) * sizeof(uint64_t), off;
	uint64_t *s = malloc(bytes);

	if (!s)
		fail("out of memory for %zu samples", n);
	/* Touch every page now, not inside a timed loop (in Dune: not an EPT fault there). */
	for (off = 0; off < bytes; off += 64)
		((volatile char *)s)[off] = 0;
	return s;
}

void *map_fresh(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fail("mmap of %zu bytes failed", bytes);
	/* One fault per 4 KiB page, on Linux and in Dune alike. */
	if (madvise(p, bytes, MADV_NOHUGEPAGE))
		fail("madvise(MADV_NOHUGEPAGE) failed");
	return p;
}
