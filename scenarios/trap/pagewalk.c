/*
 * pagewalk.c - the cost of a TLB miss: a pointer chase with one node per
 * 4 KiB page over --span-mb of memory (no huge pages), in a random single
 * cycle, so every load needs a new translation while the nodes themselves
 * (one cache line per page) mostly stay in the caches.  On Linux a miss is
 * a 4-level walk; in Dune the guest's walk runs through the EPT, a
 * two-dimensional walk.  One sample = BATCH dependent loads.
 * Note: Bochs does not charge emulated ticks for TLB misses (a tick is an
 * instruction), so only hardware shows the difference.
 */
#include <stdlib.h>

#include "timing.h"
#include "trap.h"

#define BATCH 4

_Static_assert(BATCH == 4, "the timed loop below is unrolled 4 times");

static void **build_chain(long pages)
{
	char *mem = map_fresh((size_t)pages * PGSIZE_4K);
	uint32_t *order = malloc((size_t)pages * sizeof(*order));
	uint64_t x = 0x9e3779b97f4a7c15ULL;	/* fixed seed: the same chain every run */
	long i;

	if (!order)
		fail("out of memory for the chain order");
	for (i = 0; i < pages; i++)
		order[i] = (uint32_t)i;
	/* Sattolo's shuffle: one cycle through every page. */
	for (i = pages - 1; i > 0; i--) {
		long j;
		uint32_t t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (long)(x % (uint64_t)i);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* Node of page k at a varying line, so the nodes do not all share cache sets. */
#define NODE(k) ((void **)(mem + (size_t)(k) * PGSIZE_4K + ((size_t)(k) * 17 % 64) * 64))
	for (i = 0; i < pages; i++)
		*NODE(order[i]) = NODE(order[(i + 1) % pages]);
	free(order);
	return NODE(0);
#undef NODE
}

static void chase(const struct params *p, struct result *r, bool dune)
{
	long pages = p->span_mb * 256, i, nsamples = p->n / BATCH;
	void **node;

	if (nsamples < 1)
		fail("pagewalk needs --n >= %d", BATCH);
	if (pages < 2)
		fail("pagewalk needs --span-mb >= 1");
	node = build_chain(pages);
	for (i = 0; i < pages; i++)	/* warm: every page mapped, every node cached once */
		node = (void **)*node;
	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)nsamples);
	if (dune)
		events_begin();
	for (i = 0; i < nsamples; i++) {
		uint64_t t0 = tsc_begin();

		node = (void **)*node;
		node = (void **)*node;
		node = (void **)*node;
		node = (void **)*node;
		r->samples[i] = tsc_net(t0, tsc_end(), r->overhead);
	}
	if (dune)
		events_end(r, (uint64_t)(nsamples * BATCH));
	if (!node)
		fail("broken chain");
	r->nsamples = (size_t)nsamples;
	r->ops_per_sample = BATCH;
	r->param_keys = "n,span_mb";
}

void linux_pagewalk(const struct params *p, struct result *r)
{
	chase(p, r, false);
}

void dune_pagewalk(const struct params *p, struct result *r)
{
	chase(p, r, true);
}
