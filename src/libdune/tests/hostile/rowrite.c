/* rowrite: write to a PROT_READ page with no handler.
 * Expected: unhandled page fault, exit status 139 (128 + SIGSEGV). */
#include <sys/mman.h>
#include "../test_util.h"

int main(void)
{
	volatile char *p;

	test_enter("rowrite");
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED);
	TEST_ASSERT(p[10] == 0);
	printf("rowrite: writing to read-only page %p; expect exit status %d\n", (void *)p,
	       DUNE_EXIT_FATAL_BASE + 11);
	fflush(stdout);
	p[10] = 1;
	printf("UNEXPECTED rowrite: write succeeded (CR0.WP=%d)\n", !!(read_cr0() & X86_CR0_WP));
	return 3;
}
