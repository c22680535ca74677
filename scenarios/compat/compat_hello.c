/*
 * compat_hello: the smallest original-style program: enter Dune, print with
 * dune_printf, time with dune_get_ticks, check ring 0 with the original's
 * header names.
 */
#include <stdio.h>
#include <stdlib.h>

#include "libdune/dune.h"
#include "libdune/cpu-x86.h"

int main(int argc, char *argv[])
{
	volatile int ret;
	unsigned long t0, t1;

	(void)argc;
	(void)argv;
	printf("compat_hello: not running dune yet\n");

	ret = dune_init_and_enter();
	if (ret) {
		printf("FAIL compat_hello: failed to initialize dune (%d)\n", ret);
		return 1;
	}
	dune_printf("compat_hello: now printing from dune mode\n");

	t0 = dune_get_ticks();
	t1 = dune_get_ticks();
	if (t1 < t0) {
		printf("FAIL compat_hello: dune_get_ticks went backwards\n");
		return 1;
	}
	if ((read_cs() & 3) != 0) {
		printf("FAIL compat_hello: not at CPL0 (cs %#x)\n", read_cs());
		return 1;
	}
	/* the page table is ours to read: CR3 points at pgroot */
	if (PTE_ADDR(read_cr3()) != dune_va_to_pa(pgroot)) {
		printf("FAIL compat_hello: CR3 %#lx is not pgroot\n", (unsigned long)read_cr3());
		return 1;
	}
	printf("PASS compat_hello\n");
	return 0;
}
