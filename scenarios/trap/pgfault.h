/* pgfault.h - first touch of fresh anonymous pages, each timed (shared by both modes). */
#ifndef TRAP_PGFAULT_H
#define TRAP_PGFAULT_H

#include "timing.h"
#include "trap.h"

static inline void touch_fresh_pages(volatile char *mem, long n, uint64_t overhead, uint64_t *out)
{
	long i;

	for (i = 0; i < n; i++) {
		uint64_t t0 = tsc_begin();

		mem[i * PGSIZE_4K] = (char)i;
		out[i] = tsc_net(t0, tsc_end(), overhead);
	}
}

#endif
