/* test.h - a tiny test harness for the sandbox's host unit tests (make check). */
#ifndef SBX_TEST_H
#define SBX_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int t_failed_now;
extern const char *t_current;

#define CHECK(cond) do {							\
	if (!(cond)) {								\
		printf("  FAIL %s: %s:%d: %s\n", t_current, __FILE__, __LINE__, #cond); \
		t_failed_now = 1;						\
	}									\
} while (0)

#define CHECK_MSG(cond, ...) do {						\
	if (!(cond)) {								\
		printf("  FAIL %s: %s:%d: %s: ", t_current, __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__);						\
		printf("\n");							\
		t_failed_now = 1;						\
	}									\
} while (0)

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define TESTS(group) const struct t_case group[]
#define T(fn) { #fn, fn }

#endif
