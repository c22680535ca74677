/* ud2: invalid opcode with no handler.  Expected: exit status 132 (128 + SIGILL). */
#include "../test_util.h"

int main(void)
{
	test_enter("ud2");
	printf("ud2: executing ud2 with no handler; expect exit status %d\n", DUNE_EXIT_FATAL_BASE + 4);
	fflush(stdout);
	__asm__ volatile("ud2");
	printf("UNEXPECTED ud2: still running\n");
	return 3;
}
