/* exitcode: exit(42) in Dune mode.  Prints no PASS line: the harness checks status 42. */
#include "../test_util.h"

int main(void)
{
	test_enter("exitcode");
	printf("exitcode: in Dune, calling exit(42); expected exit status 42\n");
	exit(42);
}
