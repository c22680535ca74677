/* test_main.c - runs every host unit test of the sandbox; last line "N passed, M failed". */
#include "test.h"

int t_failed_now;
const char *t_current;

extern const struct t_case policy_tests[], check_tests[], arena_tests[], paths_tests[];

int main(int argc, char **argv)
{
	const struct t_case *groups[] = { policy_tests, check_tests, arena_tests, paths_tests };
	int passed = 0, failed = 0;
	size_t g;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		const struct t_case *t;

		for (t = groups[g]; t->name; t++) {
			if (argc > 1 && !strstr(t->name, argv[1]))
				continue;
			t_current = t->name;
			t_failed_now = 0;
			t->fn();
			if (t_failed_now) {
				printf("FAIL %s\n", t->name);
				failed++;
			} else {
				printf("ok   %s\n", t->name);
				passed++;
			}
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
