/*
 * arena.c - occupied ranges of the program's arena (see arena.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define PG	4096ULL

void arena_init(struct arena *a, uint64_t lo, uint64_t hi)
{
	memset(a, 0, sizeof(*a));
	a->lo = lo;
	a->hi = hi;
	a->mmap_top = hi;
}

void arena_set_hole(struct arena *a, uint64_t lo, uint64_t hi)
{
	a->hole_lo = lo;
	a->hole_hi = hi;
}

void arena_free(struct arena *a)
{
	free(a->r);
	a->r = NULL;
	a->n = a->cap = 0;
	a->used = 0;
}

static int reserve(struct arena *a, size_t n)
{
	struct arena_range *r;
	size_t cap;

	if (n <= a->cap)
		return 0;
	cap = a->cap ? a->cap * 2 : 64;
	while (cap < n)
		cap *= 2;
	r = realloc(a->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	a->r = r;
	a->cap = cap;
	return 0;
}

/* index of the first range with end > s */
static size_t first_after(const struct arena *a, uint64_t s)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a->r[mid].end <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t arena_occupied_in(const struct arena *a, uint64_t s, uint64_t e)
{
	uint64_t sum = 0;
	size_t i;

	for (i = first_after(a, s); i < a->n && a->r[i].start < e; i++) {
		uint64_t x = a->r[i].start > s ? a->r[i].start : s;
		uint64_t y = a->r[i].end < e ? a->r[i].end : e;

		sum += y - x;
	}
	return sum;
}

int arena_remove(struct arena *a, uint64_t s, uint64_t e)
{
	size_t i;

	if (s >= e)
		return 0;
	i = first_after(a, s);
	while (i < a->n && a->r[i].start < e) {
		struct arena_range *r = &a->r[i];

		if (r->start < s && r->end > e) {
			/* split in two */
			if (reserve(a, a->n + 1))
				return -ENOMEM;
			r = &a->r[i];
			memmove(&a->r[i + 2], &a->r[i + 1], (a->n - i - 1) * sizeof(*r));
			a->r[i + 1].start = e;
			a->r[i + 1].end = r->end;
			r->end = s;
			a->n++;
			a->used -= e - s;
			return 0;
		}
		if (r->start < s) {
			a->used -= r->end - s;
			r->end = s;
			i++;
		} else if (r->end > e) {
			a->used -= e - r->start;
			r->start = e;
			i++;
		} else {
			a->used -= r->end - r->start;
			memmove(&a->r[i], &a->r[i + 1], (a->n - i - 1) * sizeof(*r));
			a->n--;
		}
	}
	return 0;
}

int arena_add(struct arena *a, uint64_t s, uint64_t e)
{
	size_t i, j;
	uint64_t ns = s, ne = e;

	if (s >= e)
		return 0;
	/* ranges touching [s, e) (adjacent ones too) merge into it */
	i = first_after(a, s ? s - 1 : 0);
	if (i > 0 && a->r[i - 1].end == s)
		i--;
	j = i;
	while (j < a->n && a->r[j].start <= e) {
		if (a->r[j].start < ns)
			ns = a->r[j].start;
		if (a->r[j].end > ne)
			ne = a->r[j].end;
		a->used -= a->r[j].end - a->r[j].start;
		j++;
	}
	if (j == i) {
		if (reserve(a, a->n + 1))
			return -ENOMEM;
		memmove(&a->r[i + 1], &a->r[i], (a->n - i) * sizeof(a->r[0]));
		a->n++;
	} else if (j > i + 1) {
		memmove(&a->r[i + 1], &a->r[j], (a->n - j) * sizeof(a->r[0]));
		a->n -= j - i - 1;
	}
	a->r[i].start = ns;
	a->r[i].end = ne;
	a->used += ne - ns;
	return 0;
}

bool arena_mapped(const struct arena *a, uint64_t s, uint64_t e)
{
	return arena_occupied_in(a, s, e) == e - s;
}

bool arena_overlaps(const struct arena *a, uint64_t s, uint64_t e)
{
	size_t i = first_after(a, s);

	return i < a->n && a->r[i].start < e;
}

bool arena_contains(const struct arena *a, uint64_t s, uint64_t e)
{
	if (s < a->lo || e > a->hi || s > e)
		return false;
	return !(a->hole_hi > a->hole_lo && s < a->hole_hi && e > a->hole_lo);
}

/* The highest len-byte range inside the free gap [g0, g1), outside the brk zone and the hole; 0 if none. */
static uint64_t place(const struct arena *a, uint64_t g0, uint64_t g1, uint64_t len)
{
	uint64_t z0[2] = { a->brk_lo, a->hole_lo }, z1[2] = { a->brk_hi, a->hole_hi };
	uint64_t top = g1;
	int k;

	/* walk down from g1: a blocked zone overlapping [.., top) moves top below it */
	for (;;) {
		uint64_t bottom = g0;
		bool moved = false;

		if (top <= g0)
			return 0;
		for (k = 0; k < 2; k++) {
			if (z1[k] <= z0[k] || z0[k] >= top || z1[k] <= g0)
				continue;
			if (z1[k] >= top) {	/* the zone reaches top: go below it */
				top = z0[k];
				moved = true;
				break;
			}
			if (z1[k] > bottom)
				bottom = z1[k];	/* the free part above this zone */
		}
		if (moved)
			continue;
		if (top - bottom >= len)
			return top - len;
		/* not enough above the highest zone below top: continue under it */
		if (bottom == g0)
			return 0;
		for (k = 0; k < 2; k++)
			if (z1[k] == bottom && z1[k] > z0[k]) {
				top = z0[k];
				break;
			}
	}
}

uint64_t arena_find(const struct arena *a, uint64_t len, bool below2g)
{
	uint64_t top = a->mmap_top, floor = a->lo + 16 * PG, hi, got;
	size_t i;

	if (!len || len % PG)
		return 0;
	if (below2g && top > (2ULL << 30))
		top = 2ULL << 30;
	if (top <= floor)
		return 0;
	/* gaps from the top down: [end of range i-1, start of range i), clipped to [floor, top) */
	i = first_after(a, top);	/* ranges before i end at or below top... */
	if (i < a->n && a->r[i].start < top)
		top = a->r[i].start;	/* ...and range i may straddle top */
	hi = top;
	for (;;) {
		uint64_t g0 = i > 0 ? a->r[i - 1].end : a->lo;

		if (g0 < floor)
			g0 = floor;
		got = place(a, g0, hi, len);
		if (got)
			return got;
		if (i == 0 || a->r[i - 1].start <= floor)
			return 0;
		hi = a->r[i - 1].start;
		i--;
	}
}
