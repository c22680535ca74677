/* triplefault: empty IDT + int3 -> #GP -> #DF -> triple fault.
 * Expected: libdune reports the unhandled VM exit, exit status 125. */
#include "../test_util.h"

int main(void)
{
	struct x86_dtr zero = { 0, 0 };

	test_enter("triplefault");
	printf("triplefault: zero IDT then int3; expect exit status %d\n", DUNE_EXIT_VMEXIT);
	fflush(stdout);
	lidt(&zero);
	__asm__ volatile("int3");
	printf("UNEXPECTED triplefault: still running\n");
	return 3;
}
