/* hello: enter Dune and print.  PASS line, exit 0. */
#include "../test_util.h"

int main(void)
{
	test_enter("hello");
	printf("hello from Dune mode: cs=%#x cpl=%d\n", read_cs(), cpl());
	TEST_ASSERT(cpl() == 0);
	test_pass();
	return 0;
}
