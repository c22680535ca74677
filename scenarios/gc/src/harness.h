/*
 * The GC scenario's common harness: one run of one benchmark in one mode.
 *
 *   prog --mode MODE [--PARAM N ...]
 *
 * MODE (the same binary, chosen at run time):
 *   stw         stop-the-world collector (bdwgc's default, not incremental)
 *   mprotect    incremental, dirty pages by write protection + SIGSEGV (MPROTECT_VDB)
 *   soft-dirty  incremental, Linux soft-dirty PTE bits via /proc/self/pagemap (SOFT_VDB)
 *   dune        incremental, the page table's hardware dirty bits, read in Dune mode
 *               through our GC_vdb_client hook (dune_vdb.c)
 *   stw-dune    stop-the-world inside Dune: the control for Dune's own cost
 *   client-all, client-none
 *               test-only hook providers on the host: every page dirty (correct but
 *               useless), no page dirty (wrong: the correctness test must catch it)
 *
 * The harness proves the back end: it fails the run (FAIL line, exit 1) unless the
 * collector reports the back end asked for and that back end's own evidence is there
 * (write faults for mprotect, open pagemap/clear_refs files for soft-dirty, passes of
 * our provider for dune, CPL 0 for the Dune modes).
 *
 * Output: one GC-BACKEND line, DUNELAB-METRIC lines (SCENARIO-FORMAT.md), and a final
 * "PASS <bench> ..." or "FAIL <bench> ..." line.
 */
#ifndef GCX_HARNESS_H
#define GCX_HARNESS_H

#include <stdint.h>

#include "gc.h"

struct gcx_param {
	const char *name;	/* --name N on the command line */
	long value;		/* default, replaced by the command line */
};

/* Parse argv, enter Dune if the mode needs it, set up and start the collector, and
 * check the back end it chose.  Exits with a FAIL line on any mismatch or bad
 * argument.  Call before any GC allocation. */
void gcx_setup(const char *bench, int argc, char **argv, struct gcx_param *params, int nparams);

/* The mode's name as given. */
const char *gcx_mode(void);

/* Start and stop the measured part of the run. */
void gcx_begin(void);
void gcx_end(void);

/* Check the back end's evidence, print the metrics and PASS/FAIL; returns the exit
 * status.  ok = the benchmark's own result check passed; why = what failed if not. */
int gcx_finish(int ok, const char *why);

/* Deterministic PRNG (xorshift64*). */
static inline uint64_t gcx_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Monotonic time in nanoseconds. */
uint64_t gcx_now_ns(void);

#endif
