/* ud2: invalid opcode with no handler, one call deep.  Expected: exit status
 * 132 (128 + SIGILL), and the panic output's backtrace shows the ud2 in
 * execute_ud2 (#0) and the return into main (#1). */
#include "../test_util.h"

static int __attribute__((noinline)) execute_ud2(int x)
{
	volatile int local = x;	/* a frame of its own (frame pointer) */

	__asm__ volatile("ud2");
	return local + 1;
}

int main(int argc, char **argv)
{
	int r;

	(void)argv;
	test_enter("ud2");
	printf("ud2: executing ud2 with no handler; expect exit status %d; main at %p, execute_ud2 at %p\n",
	       DUNE_EXIT_FATAL_BASE + 4, (void *)main, (void *)execute_ud2);
	fflush(stdout);
	r = execute_ud2(argc);
	printf("UNEXPECTED ud2: still running (%d)\n", r);
	return 3;
}
