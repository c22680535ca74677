/* linux_getpid.c - getpid natively: one SYSCALL into Linux and back, timed one by one. */
#include <unistd.h>

#include "getpid.h"
#include "timing.h"
#include "trap.h"

void linux_getpid(const struct params *p, struct result *r)
{
	long pid = syscall_getpid(), i;

	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->n);
	for (i = 0; i < 100; i++)	/* warm caches and branch predictors */
		syscall_getpid();
	for (i = 0; i < p->n; i++) {
		uint64_t t0 = tsc_begin();
		long got = syscall_getpid();
		uint64_t t1 = tsc_end();

		if (got != pid)
			fail("getpid returned %ld, expected %ld", got, pid);
		r->samples[i] = tsc_net(t0, t1, r->overhead);
	}
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
