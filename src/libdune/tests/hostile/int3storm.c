/* int3storm: 1,000,000 int3 traps with a handler, then one without.
 * Expected: the storm completes; the unhandled int3 ends the process with status 133 (128 + SIGTRAP). */
#include "../test_util.h"

#define STORM 1000000

static volatile long count;

static void handler(struct dune_tf *tf)
{
	(void)tf;
	count++;
}

int main(void)
{
	long i;

	test_enter("int3storm");
	dune_register_intr_handler(T_BP, handler);
	for (i = 0; i < STORM; i++)
		__asm__ volatile("int3");
	printf("int3storm: %ld traps handled (%s); now an unhandled int3, expect exit status %d\n",
	       count, count == STORM ? "ok" : "WRONG", DUNE_EXIT_FATAL_BASE + 5);
	fflush(stdout);
	if (count != STORM)
		return 1;
	dune_register_intr_handler(T_BP, NULL);
	__asm__ volatile("int3");
	printf("UNEXPECTED int3storm: still running\n");
	return 3;
}
