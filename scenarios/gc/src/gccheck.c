/*
 * gccheck: a randomized mutator that checks, after every collection, that every object
 * it can still reach is intact.  A dirty-bit back end that misses a written page lets
 * the collector free an object whose only reference was stored into an already-marked
 * object on that page; the object's memory is then swept (cleared, put on a free list)
 * and reused, and the next check finds it changed.
 *
 * The mutator keeps a model of its object graph in malloc'd memory, which the collector
 * does not scan (so the model keeps nothing alive): for each object its address, id,
 * sizes and the model index of what each pointer field holds.  Operations: allocate a
 * new object and store it into a root slot or a pointer field; store an existing object;
 * move a pointer from one field to another (clearing the source: the store a missed
 * dirty page loses); drop a reference.  Objects come small, medium, large (several
 * pages, so fields sit on different pages) and pointer-free.  Collections can only start
 * inside an allocation, so the check runs right after every allocation that saw
 * GC_get_gc_no() change: it walks the model from the roots and compares every reachable
 * object byte for byte, then forgets the unreachable ones.  At the end: a full
 * collection, then garbage allocation of every size to force sweeping and reuse, then
 * the last checks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAGIC 0x6763636865636bULL	/* "gccheck" */

struct obj {
	uint64_t tag;		/* MAGIC ^ id */
	uint64_t id;
	uint32_t nptr, npay;
	struct obj *ptr[];	/* nptr fields, then npay payload bytes */
};

struct shadow {
	struct obj *addr;	/* NULL: free model slot */
	uint64_t id;
	uint32_t nptr, npay;
	int32_t *child;		/* model slot held by each field, -1 = NULL */
	uint32_t epoch;
	int atomic;
};

static struct gcx_param params[] = {
	{ "objects", 20000 }, { "ops", 1000000 }, { "roots", 256 }, { "seed", 1 },
};
#define P_OBJECTS params[0].value
#define P_OPS params[1].value
#define P_ROOTS params[2].value
#define P_SEED params[3].value

static struct obj **rootv;	/* the root slots: a GC object held by this static */
static int32_t *rootm;		/* model of rootv */
static struct shadow *S;
static int32_t nslots, *freeslots, nfree;
static int32_t *live, nlive;	/* reachable at the last check, plus newer objects */
static int32_t *stack;
static uint32_t epoch;
static uint64_t rng, next_id = 1;
static unsigned long last_gc_no, checks, checked_objects;
static char why[300];

static unsigned char pay(uint64_t id, uint32_t i)
{
	return (unsigned char)((id * 131 + i * 7) ^ (i >> 8));
}

static unsigned char *payload(struct obj *o)
{
	return (unsigned char *)&o->ptr[o->nptr];
}

static int check(void);

static int32_t new_obj(void)
{
	uint64_t r = gcx_rand(&rng) % 100, id = next_id++;
	uint32_t nptr, npay, i;
	int atomic = 0;
	struct obj *o;
	int32_t s;

	if (r < 55) {			/* small */
		nptr = 1 + (uint32_t)(gcx_rand(&rng) % 4);
		npay = (uint32_t)(gcx_rand(&rng) % 33);
	} else if (r < 80) {		/* medium */
		nptr = 4 + (uint32_t)(gcx_rand(&rng) % 61);
		npay = (uint32_t)(gcx_rand(&rng) % 257);
	} else if (r < 85) {		/* large: fields on several pages */
		nptr = 600 + (uint32_t)(gcx_rand(&rng) % 900);
		npay = (uint32_t)(gcx_rand(&rng) % 64);
	} else {			/* pointer-free */
		nptr = 0;
		npay = 8 + (uint32_t)(gcx_rand(&rng) % 2000);
		atomic = 1;
	}
	{
		size_t sz = sizeof(struct obj) + nptr * sizeof(void *) + npay;

		o = atomic ? GC_MALLOC_ATOMIC(sz) : GC_MALLOC(sz);
	}
	if (!o) {
		printf("FAIL gccheck: out of memory\n");
		exit(1);
	}
	o->tag = MAGIC ^ id;
	o->id = id;
	o->nptr = nptr;
	o->npay = npay;
	for (i = 0; i < nptr; i++)
		o->ptr[i] = NULL;	/* GC_MALLOC clears, but atomic memory is not */
	for (i = 0; i < npay; i++)
		payload(o)[i] = pay(id, i);
	/* A collection can only have happened inside that allocation: check now, while
	 * the new object is held only by the local o (scanned) and not yet in the model. */
	if ((unsigned long)GC_get_gc_no() != last_gc_no && !check()) {
		gcx_end();
		exit(gcx_finish(0, why));
	}

	if (nfree)
		s = freeslots[--nfree];
	else
		s = nslots++;
	S[s].addr = o;
	S[s].id = id;
	S[s].nptr = nptr;
	S[s].npay = npay;
	S[s].atomic = atomic;
	S[s].epoch = epoch;
	S[s].child = nptr ? malloc(nptr * sizeof(int32_t)) : NULL;
	for (i = 0; i < nptr; i++)
		S[s].child[i] = -1;
	live[nlive++] = s;
	return s;
}

/* A random reachable-or-recent object with pointer fields, or -1. */
static int32_t pick_holder(void)
{
	int tries;

	for (tries = 0; tries < 8 && nlive; tries++) {
		int32_t s = live[gcx_rand(&rng) % (uint64_t)nlive];

		if (S[s].addr && S[s].nptr)
			return s;
	}
	return -1;
}

/* Store model slot v (-1 = NULL) into root r (holder < 0) or holder's field f. */
static void store(int32_t holder, uint32_t f, int32_t v)
{
	struct obj *val = v >= 0 ? S[v].addr : NULL;

	if (holder < 0) {
		rootv[f] = val;
		rootm[f] = v;
	} else {
		S[holder].addr->ptr[f] = val;
		S[holder].child[f] = v;
	}
}

/* A root slot or a field of a live object; an empty one if a few tries find one
 * (prefer_empty), so that the graph grows instead of losing subtrees on every store. */
static void pick_dest(int32_t *holder, uint32_t *f, int prefer_empty)
{
	int tries;

	for (tries = 0; tries < 4; tries++) {
		*holder = (gcx_rand(&rng) % 8 == 0) ? -1 : pick_holder();
		if (*holder < 0)
			*f = (uint32_t)(gcx_rand(&rng) % (uint64_t)P_ROOTS);
		else
			*f = (uint32_t)(gcx_rand(&rng) % S[*holder].nptr);
		if (!prefer_empty || (*holder < 0 ? rootm[*f] : S[*holder].child[*f]) < 0)
			return;
	}
}

static int bad(int32_t s, const char *what, long detail)
{
	snprintf(why, sizeof(why), "after collection %lu: reachable object id %" PRIu64 " at %p "
		 "(%u fields, %u payload bytes): %s (%ld) -- a write the dirty bits missed?",
		 (unsigned long)GC_get_gc_no(), S[s].id, (void *)S[s].addr, S[s].nptr, S[s].npay, what,
		 detail);
	return 0;
}

static int check_one(int32_t s)
{
	struct obj *o = S[s].addr;
	uint32_t i;

	if (o->tag != (MAGIC ^ S[s].id) || o->id != S[s].id)
		return bad(s, "header overwritten", (long)o->id);
	if (o->nptr != S[s].nptr || o->npay != S[s].npay)
		return bad(s, "sizes overwritten", (long)o->nptr);
	for (i = 0; i < o->nptr; i++) {
		int32_t c = S[s].child[i];

		if (o->ptr[i] != (c >= 0 ? S[c].addr : NULL))
			return bad(s, "pointer field changed", (long)i);
	}
	for (i = 0; i < o->npay; i++)
		if (payload(o)[i] != pay(S[s].id, i))
			return bad(s, "payload changed at byte", (long)i);
	checked_objects++;
	return 1;
}

/* Walk the model from the roots, compare every reachable object, forget the rest. */
static int check(void)
{
	int32_t sp = 0, s;
	uint32_t i;

	last_gc_no = (unsigned long)GC_get_gc_no();
	checks++;
	epoch++;
	nlive = 0;
	for (i = 0; i < (uint32_t)P_ROOTS; i++) {
		if (rootv[i] != (rootm[i] >= 0 ? S[rootm[i]].addr : NULL)) {
			snprintf(why, sizeof(why), "root slot %u changed", i);
			return 0;
		}
		if (rootm[i] >= 0 && S[rootm[i]].epoch != epoch) {
			S[rootm[i]].epoch = epoch;
			stack[sp++] = rootm[i];
		}
	}
	while (sp) {
		s = stack[--sp];
		if (!check_one(s))
			return 0;
		live[nlive++] = s;
		for (i = 0; i < S[s].nptr; i++) {
			int32_t c = S[s].child[i];

			if (c >= 0 && S[c].epoch != epoch) {
				S[c].epoch = epoch;
				stack[sp++] = c;
			}
		}
	}
	for (s = 0; s < nslots; s++)
		if (S[s].addr && S[s].epoch != epoch) {
			S[s].addr = NULL;	/* unreachable: the collector may take it */
			free(S[s].child);
			S[s].child = NULL;
			freeslots[nfree++] = s;
		}
	return 1;
}

int main(int argc, char **argv)
{
	long op, cap;

	gcx_setup("gccheck", argc, argv, params, (int)(sizeof(params) / sizeof(params[0])));
	if (P_OBJECTS < 16 || P_ROOTS < 1 || P_ROOTS > 100000) {
		printf("FAIL gccheck: need objects >= 16, 1 <= roots <= 100000\n");
		return 2;
	}
	rng = (uint64_t)P_SEED * 0x9E3779B97F4A7C15ULL + 11;
	/* model capacity: live objects plus what can be allocated between two checks */
	cap = 4 * P_OBJECTS + P_OPS + 1024;
	S = calloc((size_t)cap, sizeof(*S));
	freeslots = malloc((size_t)cap * sizeof(int32_t));
	live = malloc((size_t)cap * sizeof(int32_t));
	stack = malloc((size_t)cap * sizeof(int32_t));
	rootm = malloc((size_t)P_ROOTS * sizeof(int32_t));
	if (!S || !freeslots || !live || !stack || !rootm) {
		printf("FAIL gccheck: out of memory (model)\n");
		return 1;
	}
	for (op = 0; op < P_ROOTS; op++)
		rootm[op] = -1;

	gcx_begin();
	rootv = GC_MALLOC(sizeof(struct obj *) * (size_t)P_ROOTS);
	last_gc_no = (unsigned long)GC_get_gc_no();
	for (op = 0; op < P_OPS; op++) {
		uint64_t r = gcx_rand(&rng) % 100;
		int32_t h, v;
		uint32_t f;

		if (r < 45) {			/* allocate and store */
			/* over the target (as of the last check): overwrite a reference, and
			 * drop another, so old subtrees die while new objects keep coming */
			int over = nlive > P_OBJECTS;

			v = new_obj();
			pick_dest(&h, &f, !over);
			store(h, f, v);
			if (over) {
				pick_dest(&h, &f, 0);
				if (gcx_rand(&rng) % 16 == 0) {		/* a whole root's subtree */
					h = -1;
					f = (uint32_t)(gcx_rand(&rng) % (uint64_t)P_ROOTS);
				}
				if (h != v)
					store(h, f, -1);
			}
		} else if (r < 55) {		/* store an existing object */
			v = nlive ? live[gcx_rand(&rng) % (uint64_t)nlive] : -1;
			if (v >= 0 && !S[v].addr)
				v = -1;
			pick_dest(&h, &f, 1);
			store(h, f, v);
		} else if (r < 80) {		/* move a pointer, clearing its source */
			int32_t a = pick_holder();
			uint32_t g;

			if (a < 0)
				continue;
			g = (uint32_t)(gcx_rand(&rng) % S[a].nptr);
			v = S[a].child[g];
			pick_dest(&h, &f, 1);
			store(h, f, v);
			if (!(h == a && f == g))
				store(a, g, -1);
		} else {			/* drop a reference (a root's, now and then) */
			pick_dest(&h, &f, 0);
			if (nlive > P_OBJECTS && gcx_rand(&rng) % 8 == 0) {
				h = -1;
				f = (uint32_t)(gcx_rand(&rng) % (uint64_t)P_ROOTS);
			}
			store(h, f, -1);
		}
	}
	/* a full collection, then enough garbage of every size to sweep and reuse the heap */
	GC_gcollect();
	if (!check())
		goto out;
	{
		size_t target = GC_get_heap_size() * 2, done = 0;

		while (done < target) {
			size_t sz = 16 + (size_t)(gcx_rand(&rng) % 4096);
			void *p = (gcx_rand(&rng) & 1) ? GC_MALLOC(sz) : GC_MALLOC_ATOMIC(sz);

			if (p)
				memset(p, 0xA5, sz);
			done += sz;
			if ((unsigned long)GC_get_gc_no() != last_gc_no && !check())
				goto out;
		}
	}
	GC_gcollect();
	check();
out:
	gcx_end();
	printf("GCCHECK mode=%s checks=%lu objects_checked=%lu live_at_end=%d allocated=%" PRIu64 "\n",
	       gcx_mode(), checks, checked_objects, nlive, next_id - 1);
	return gcx_finish(!why[0], why);
}
