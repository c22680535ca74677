/*
 * dune_events.c - dune.ko's counters around the measured work (Dune mode).
 *
 * A read of the counters is itself a VMCALL round trip (one exit, one entry,
 * one ioctl return, the MSR writes around them), and a delta between two
 * reads contains exactly one such trip: the entry after the first read and
 * the exit of the second.  events_calibrate() measures that cost as the
 * word-wise minimum over a few back-to-back pairs (a timer interrupt may
 * land in one pair, not in all), and events_end() subtracts it.
 */
#include <string.h>

#include "trap.h"

#define NWORDS (sizeof(struct dune_stats) / sizeof(uint64_t))
#define CALIBRATION_PAIRS 5

static struct dune_stats read_cost, begin;

void events_read(struct dune_stats *s)
{
	int r = dune_get_stats(s);

	if (r)
		fail("dune_get_stats: %d", r);
}

void events_sub(struct dune_stats *d, const struct dune_stats *a, const struct dune_stats *b,
		const struct dune_stats *sub)
{
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	const uint64_t *z = (const uint64_t *)sub;
	uint64_t *out = (uint64_t *)d;
	size_t i;

	for (i = 0; i < NWORDS; i++) {
		uint64_t v = y[i] - x[i];
		uint64_t s = z ? z[i] : 0;

		if (y[i] < x[i])
			fail("dune.ko counter %zu went down (%llu -> %llu)", i,
			     (unsigned long long)x[i], (unsigned long long)y[i]);
		out[i] = v > s ? v - s : 0;
	}
}

void events_calibrate(void)
{
	struct dune_stats a, b, d;
	uint64_t *cost = (uint64_t *)&read_cost;
	const uint64_t *dw = (const uint64_t *)&d;
	size_t i;
	int k;

	memset(&read_cost, 0xff, sizeof(read_cost));
	for (k = 0; k < CALIBRATION_PAIRS; k++) {
		events_read(&a);
		events_read(&b);
		events_sub(&d, &a, &b, NULL);
		for (i = 0; i < NWORDS; i++)
			if (dw[i] < cost[i])
				cost[i] = dw[i];
	}
	if (read_cost.exit_reasons[18] < 1)	/* 18: VMCALL */
		fail("a counter read in Dune mode should be a VMCALL, measured %llu",
		     (unsigned long long)read_cost.exit_reasons[18]);
}

const struct dune_stats *events_read_cost(void)
{
	return &read_cost;
}

void events_begin(void)
{
	events_read(&begin);
}

void events_end(struct result *r, uint64_t ops)
{
	struct dune_stats end;

	events_read(&end);
	events_sub(&r->events, &begin, &end, &read_cost);
	r->has_events = true;
	r->ops = ops;
}
