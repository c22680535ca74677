/*
 * trap.h - what the measures share: parameters, one result, failure.
 *
 * One binary, one run = one measure in one mode.  A measure function fills
 * a struct result with per-sample TSC intervals already net of the timing
 * overhead; main.c prints it as the run's single DUNELAB-METRIC line.
 * Dune-mode measures also bracket exactly the measured work with
 * events_begin()/events_end() (dune_events.c): dune.ko's counters, net of
 * the cost of reading them.
 */
#ifndef TRAP_TRAP_H
#define TRAP_TRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dune.h>

#define PGSIZE_4K	4096UL

struct params {
	long n;			/* operations (getpid, interpose, pgfault, trap, pagewalk loads) */
	long pages;		/* Appel: NRPGS, the pages protected per round */
	long rounds;		/* Appel: rounds (one sample each) */
	long span_mb;		/* pagewalk: virtual memory the chase spreads over */
};

struct result {
	uint64_t *samples;	/* net of overhead */
	size_t nsamples;
	uint64_t overhead;	/* the smallest empty interval, already subtracted */
	long ops_per_sample;
	const char *param_keys;	/* which struct params fields to echo: "n", "n,span_mb", "pages,rounds" */
	bool has_events;	/* Dune mode: events below are valid */
	uint64_t ops;		/* operations the events cover */
	struct dune_stats events;
};

/* Print "FAIL <why>" on stdout and exit 1 (any context: raw write + exit_group). */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Allocate n samples or fail. */
uint64_t *alloc_samples(size_t n);
/* Anonymous private memory, not yet touched, without transparent huge pages; fails on error. */
void *map_fresh(size_t bytes);

/* Dune-mode counters (dune_events.c).  events_calibrate() once after entering. */
void events_calibrate(void);
void events_begin(void);
/* Deltas since events_begin(), net of the reads, into r->events; r->ops = ops. */
void events_end(struct result *r, uint64_t ops);
/* Read the counters now (for measures that net out more than the reads). */
void events_read(struct dune_stats *s);
/* d = b - a - sub (clamped at 0), word by word. */
void events_sub(struct dune_stats *d, const struct dune_stats *a, const struct dune_stats *b,
		const struct dune_stats *sub);
/* The reads' own cost measured by events_calibrate(). */
const struct dune_stats *events_read_cost(void);

typedef void (*measure_fn)(const struct params *p, struct result *r);

void linux_getpid(const struct params *p, struct result *r);
void dune_getpid(const struct params *p, struct result *r);
void linux_interpose(const struct params *p, struct result *r);
void dune_interpose(const struct params *p, struct result *r);
void linux_pgfault(const struct params *p, struct result *r);
void dune_pgfault(const struct params *p, struct result *r);
void linux_trap(const struct params *p, struct result *r);
void dune_trap(const struct params *p, struct result *r);
void linux_pagewalk(const struct params *p, struct result *r);
void dune_pagewalk(const struct params *p, struct result *r);
void linux_appel1(const struct params *p, struct result *r);
void dune_appel1(const struct params *p, struct result *r);
void linux_appel2(const struct params *p, struct result *r);
void dune_appel2(const struct params *p, struct result *r);

#endif
