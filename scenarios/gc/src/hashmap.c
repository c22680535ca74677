/*
 * HashMap: a chained hash table with string keys under insert/delete churn.  Entries
 * and the bucket array live in the collected heap, keys are pointer-free (atomic)
 * objects; the table doubles when its load passes 3/4, relinking every entry (stores
 * into old objects).  Each operation picks a key from [0, 2*keys): present -> delete
 * (or, one time in four, update the value in place), absent -> insert, so about half
 * the key space is live.  Checked at the end against a model outside the heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct entry {
	struct entry *next;
	char *key;
	long value;
	uint64_t hash;
} entry;

typedef struct table {
	entry **buckets;
	size_t nbuckets, count;
} table;

static struct gcx_param params[] = {
	{ "keys", 100000 }, { "ops", 2000000 }, { "seed", 1 },
};
#define P_KEYS params[0].value
#define P_OPS params[1].value
#define P_SEED params[2].value

static void *xalloc(size_t n, int atomic)
{
	void *p = atomic ? GC_MALLOC_ATOMIC(n) : GC_MALLOC(n);

	if (!p) {
		printf("FAIL hashmap: out of memory\n");
		exit(1);
	}
	return p;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void grow(table *t)
{
	size_t nb = t->nbuckets * 2, i;
	entry **b = xalloc(nb * sizeof(entry *), 0);

	for (i = 0; i < t->nbuckets; i++) {
		entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	t->buckets = b;
	t->nbuckets = nb;
}

static entry **find(table *t, const char *key, uint64_t h)
{
	entry **pp = &t->buckets[h & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && !strcmp((*pp)->key, key))
			return pp;
	return pp;
}

int main(int argc, char **argv)
{
	table *t;
	long *model;		/* value+1 per key, 0 = absent: malloc'd, not scanned */
	uint64_t rng;
	long op, live = 0;
	char key[32], why[160] = "";

	gcx_setup("hashmap", argc, argv, params, (int)(sizeof(params) / sizeof(params[0])));
	if (P_KEYS < 1) {
		printf("FAIL hashmap: need keys >= 1\n");
		return 2;
	}
	rng = (uint64_t)P_SEED * 0x9E3779B97F4A7C15ULL + 7;
	model = calloc((size_t)(2 * P_KEYS), sizeof(long));
	gcx_begin();
	t = xalloc(sizeof(*t), 0);
	t->nbuckets = 16;
	t->buckets = xalloc(t->nbuckets * sizeof(entry *), 0);
	for (op = 0; op < P_OPS; op++) {
		long k = (long)(gcx_rand(&rng) % (uint64_t)(2 * P_KEYS));
		uint64_t h;
		entry **pp;
		int n = snprintf(key, sizeof(key), "key-%ld", k);

		h = hash_str(key);
		pp = find(t, key, h);
		if (*pp) {
			if ((gcx_rand(&rng) & 3) == 0) {
				(*pp)->value = op;		/* update in place */
				model[k] = op + 1;
			} else {
				*pp = (*pp)->next;		/* delete */
				t->count--;
				model[k] = 0;
				live--;
			}
		} else {
			entry *e = xalloc(sizeof(entry), 0);

			e->key = xalloc((size_t)n + 1, 1);
			memcpy(e->key, key, (size_t)n + 1);
			e->hash = h;
			e->value = op;
			e->next = NULL;
			*pp = e;
			t->count++;
			model[k] = op + 1;
			live++;
			if (t->count * 4 > t->nbuckets * 3)
				grow(t);
		}
	}
	if ((long)t->count != live)
		snprintf(why, sizeof(why), "table holds %zu entries, model %ld", t->count, live);
	for (op = 0; op < 2 * P_KEYS && !why[0]; op++) {
		entry **pp;

		snprintf(key, sizeof(key), "key-%ld", op);
		pp = find(t, key, hash_str(key));
		if ((*pp ? (*pp)->value + 1 : 0) != model[op])
			snprintf(why, sizeof(why), "%s: table %ld, model %ld", key, *pp ? (*pp)->value : -1,
				 model[op] - 1);
	}
	gcx_end();
	return gcx_finish(!why[0], why);
}
