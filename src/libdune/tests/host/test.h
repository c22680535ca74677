/* Minimal test harness for the host unit tests. */
#ifndef LIBDUNE_TEST_H
#define LIBDUNE_TEST_H

#include <stdio.h>

extern int test_failed_checks;

#define CHECK(cond) do {							\
	if (!(cond)) {								\
		fprintf(stderr, "    %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		test_failed_checks++;						\
	}									\
} while (0)

#define CHECK_EQ(a, b) do {							\
	unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a != _b) {								\
		fprintf(stderr, "    %s:%d: CHECK_EQ failed: %s == %s (%#llx != %#llx)\n", \
			__FILE__, __LINE__, #a, #b, _a, _b);			\
		test_failed_checks++;						\
	}									\
} while (0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define TEST_LIST_END { NULL, NULL }

extern const struct test_case pt_tests[], maps_tests[], layout_tests[], vm_tests[], elf_tests[],
	exit_reason_tests[];

#endif
