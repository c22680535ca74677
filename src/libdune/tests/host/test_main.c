/* Host unit-test runner: runs every test, prints "N passed, M failed" last. */
#include <stdio.h>
#include "test.h"

int test_failed_checks;

int main(void)
{
	const struct test_case *suites[] = { pt_tests, maps_tests, layout_tests, vm_tests, elf_tests,
						 exit_reason_tests };
	int passed = 0, failed = 0;
	size_t s;

	for (s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		const struct test_case *t;

		for (t = suites[s]; t->name; t++) {
			int before = test_failed_checks;

			t->fn();
			if (test_failed_checks == before) {
				printf("PASS %s\n", t->name);
				passed++;
			} else {
				printf("FAIL %s\n", t->name);
				failed++;
			}
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
