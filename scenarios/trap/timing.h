/*
 * timing.h - the one timing method every measure uses, in both modes.
 *
 * An interval is  lfence; rdtsc; lfence  ...work...  rdtscp; lfence.
 * LFENCE (not CPUID, which is a VM exit in Dune mode) keeps earlier
 * instructions from overlapping the first read and later ones from starting
 * before it; RDTSCP waits for the work to finish, the final LFENCE keeps
 * what follows out.  tsc_overhead() is the smallest empty interval, which
 * every sample has subtracted.  Unit: TSC ticks (cycles on hardware;
 * emulated ticks under Bochs/TCG, where they count instructions).
 */
#ifndef TRAP_TIMING_H
#define TRAP_TIMING_H

#include <stdint.h>

static inline __attribute__((always_inline)) uint64_t tsc_begin(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline __attribute__((always_inline)) uint64_t tsc_end(void)
{
	uint32_t lo, hi, aux;

	__asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* Smallest of `tries` empty intervals. */
static inline uint64_t tsc_overhead(int tries)
{
	uint64_t best = ~0ULL;
	int i;

	for (i = 0; i < tries; i++) {
		uint64_t t0 = tsc_begin();
		uint64_t t1 = tsc_end();

		if (t1 - t0 < best)
			best = t1 - t0;
	}
	return best;
}

/* An interval net of the overhead (never below 0). */
static inline uint64_t tsc_net(uint64_t t0, uint64_t t1, uint64_t overhead)
{
	uint64_t d = t1 - t0;

	return d > overhead ? d - overhead : 0;
}

#endif
