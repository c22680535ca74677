/*
 * dune_getpid.c - getpid from Dune ring 0 through its VMCALL path, timed one
 * by one; dune.ko's counters over the timed loop give the exits per call.
 */
#include <unistd.h>

#include "getpid.h"
#include "timing.h"
#include "trap.h"

void dune_getpid(const struct params *p, struct result *r)
{
	long pid = vmcall_getpid(), i;

	if (pid <= 0)
		fail("getpid by VMCALL returned %ld", pid);
	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->n);
	for (i = 0; i < 100; i++)
		vmcall_getpid();
	events_begin();
	for (i = 0; i < p->n; i++) {
		uint64_t t0 = tsc_begin();
		long got = vmcall_getpid();
		uint64_t t1 = tsc_end();

		if (got != pid)
			fail("getpid returned %ld, expected %ld", got, pid);
		r->samples[i] = tsc_net(t0, t1, r->overhead);
	}
	events_end(r, (uint64_t)p->n);
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
