/*
 * dune_pgfault.c - first touch of fresh anonymous pages in Dune.  libdune
 * mirrored the mmap into the guest page table already, so the touch misses
 * in the EPT only: an EPT violation that dune.ko serves without leaving the
 * kernel (get_user_pages faults the page in on the host, a leaf is installed).
 */
#include "pgfault.h"

void dune_pgfault(const struct params *p, struct result *r)
{
	volatile char *mem = map_fresh((size_t)p->n * PGSIZE_4K);

	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->n);
	events_begin();
	touch_fresh_pages(mem, p->n, r->overhead, r->samples);
	events_end(r, (uint64_t)p->n);
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
