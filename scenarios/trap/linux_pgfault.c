/* linux_pgfault.c - first touch of fresh anonymous pages: a Linux demand fault each. */
#include "pgfault.h"

void linux_pgfault(const struct params *p, struct result *r)
{
	volatile char *mem = map_fresh((size_t)p->n * PGSIZE_4K);

	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->n);
	touch_fresh_pages(mem, p->n, r->overhead, r->samples);
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
