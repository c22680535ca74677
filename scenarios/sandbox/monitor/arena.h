/*
 * arena.h - the program's address space: which parts of the arena (the one
 * range the program's memory lives in) it has mapped.  The monitor keeps
 * the rest of the arena reserved (PROT_NONE, MAP_NORESERVE) so that no
 * memory of its own can ever land there, places the program's mmaps
 * itself (top down, as Linux does) and counts them against the policy's
 * memory limit.  Pure bookkeeping, unit-tested on the host.
 */
#ifndef SBX_ARENA_H
#define SBX_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena_range {
	uint64_t start, end;
};

struct arena {
	uint64_t lo, hi;		/* the whole arena */
	uint64_t mmap_top;		/* mmaps are placed below this (under the stack) */
	uint64_t brk_lo, brk_hi;	/* kept free for the program break */
	uint64_t hole_lo, hole_hi;	/* not the program's at all (the monitor's window) */
	struct arena_range *r;		/* occupied ranges, sorted, disjoint, not adjacent */
	size_t n, cap;
	uint64_t used;			/* bytes occupied */
};

void arena_init(struct arena *a, uint64_t lo, uint64_t hi);
void arena_set_hole(struct arena *a, uint64_t lo, uint64_t hi);
void arena_free(struct arena *a);
/* Mark [s, e) occupied / free.  0 or -ENOMEM. */
int arena_add(struct arena *a, uint64_t s, uint64_t e);
int arena_remove(struct arena *a, uint64_t s, uint64_t e);
/* Is all of [s, e) occupied?  Is any of it? */
bool arena_mapped(const struct arena *a, uint64_t s, uint64_t e);
bool arena_overlaps(const struct arena *a, uint64_t s, uint64_t e);
/* Bytes of [s, e) that are occupied. */
uint64_t arena_occupied_in(const struct arena *a, uint64_t s, uint64_t e);
/* Is [s, e) inside the arena (and outside the hole)? */
bool arena_contains(const struct arena *a, uint64_t s, uint64_t e);
/*
 * A free range of len bytes (page multiple), highest first below mmap_top,
 * never in the brk zone; below4g: under 2 GiB (MAP_32BIT).  0 if none.
 */
uint64_t arena_find(const struct arena *a, uint64_t len, bool below2g);

#endif
