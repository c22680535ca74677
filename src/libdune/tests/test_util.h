/* Shared helpers for the in-guest test programs. */
#ifndef LIBDUNE_TEST_UTIL_H
#define LIBDUNE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dune.h"

static const char *test_name = "?";

#define TEST_ASSERT(cond) do {							\
	if (!(cond)) {								\
		printf("FAIL %s: %s:%d: %s\n", test_name, __FILE__, __LINE__, #cond); \
		fflush(stdout);							\
		exit(1);							\
	}									\
} while (0)

static inline void test_enter(const char *name)
{
	int r;

	test_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = dune_init_and_enter();
	if (r) {
		printf("FAIL %s: dune_init_and_enter() returned %d\n", name, r);
		exit(1);
	}
	TEST_ASSERT(dune_in_guest());
}

/*
 * The ring-3 mechanism tests run functions of this very program at CPL3:
 * give ring 3 the whole executable image (text, data, bss; -no-pie, static
 * libdune inside) and flush.  Isolation itself is tested by user_elf.
 */
extern char __executable_start[], _end[];

static inline void test_share_image_with_ring3(void)
{
	uintptr_t start = (uintptr_t)__executable_start & ~(uintptr_t)(PGSIZE - 1);
	uintptr_t end = ((uintptr_t)_end + PGSIZE - 1) & ~(uintptr_t)(PGSIZE - 1);

	TEST_ASSERT(dune_vm_set_user(pgroot, (void *)start, end - start, true) == 0);
	dune_flush_tlb();
}

static inline void test_pass(void)
{
	printf("PASS %s\n", test_name);
	fflush(stdout);
}

#endif
