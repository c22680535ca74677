/* wildcr3: load CR3 with a guest-physical address outside the process.
 * Expected: libdune reports an EPT violation, exit status 125 (DUNE_EXIT_VMEXIT). */
#include "../test_util.h"

int main(void)
{
	test_enter("wildcr3");
	printf("wildcr3: loading CR3 = 0x1000; expect exit status %d\n", DUNE_EXIT_VMEXIT);
	fflush(stdout);
	write_cr3(0x1000);
	printf("UNEXPECTED wildcr3: still running\n");
	return 3;
}
