/*
 * LinkedList: a fixed number of long-lived singly linked lists that are mutated in
 * place and replaced.  Each round builds one new list (young objects) that replaces a
 * random old one, then inserts and removes nodes at random positions of other lists:
 * those stores go into old, already-marked nodes, which is what an incremental
 * collector must notice through its dirty bits.  Checked at the end against a model
 * kept outside the collected heap (lengths and value sums).
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

typedef struct lnode {
	struct lnode *next;
	long value;
} lnode;

static struct gcx_param params[] = {
	{ "lists", 100 }, { "length", 1000 }, { "rounds", 2000 }, { "mutations", 50 }, { "seed", 1 },
};
#define P_LISTS params[0].value
#define P_LENGTH params[1].value
#define P_ROUNDS params[2].value
#define P_MUT params[3].value
#define P_SEED params[4].value

static lnode *alloc_node(long v, lnode *next)
{
	lnode *n = GC_MALLOC(sizeof(lnode));

	if (!n) {
		printf("FAIL linkedlist: out of memory\n");
		exit(1);
	}
	n->value = v;
	n->next = next;
	return n;
}

int main(int argc, char **argv)
{
	lnode **lists;
	long *len, *sum;	/* the model: malloc'd, not scanned */
	uint64_t rng;
	long r, k, i;
	char why[160] = "";

	gcx_setup("linkedlist", argc, argv, params, (int)(sizeof(params) / sizeof(params[0])));
	if (P_LISTS < 2 || P_LENGTH < 1) {
		printf("FAIL linkedlist: need lists >= 2, length >= 1\n");
		return 2;
	}
	rng = (uint64_t)P_SEED * 0x9E3779B97F4A7C15ULL + 1;
	len = calloc((size_t)P_LISTS, sizeof(long));
	sum = calloc((size_t)P_LISTS, sizeof(long));
	gcx_begin();
	lists = GC_MALLOC(sizeof(lnode *) * (size_t)P_LISTS);
	for (k = 0; k < P_LISTS; k++)
		for (i = 0; i < P_LENGTH; i++) {
			long v = (long)(gcx_rand(&rng) % 1000);

			lists[k] = alloc_node(v, lists[k]);
			len[k]++;
			sum[k] += v;
		}
	for (r = 0; r < P_ROUNDS; r++) {
		/* replace one list by a fresh one */
		k = (long)(gcx_rand(&rng) % (uint64_t)P_LISTS);
		{
			lnode *h = NULL;

			len[k] = sum[k] = 0;
			for (i = 0; i < P_LENGTH; i++) {
				long v = (long)(gcx_rand(&rng) % 1000);

				h = alloc_node(v, h);
				len[k]++;
				sum[k] += v;
			}
			lists[k] = h;
		}
		/* mutate old lists in place */
		for (i = 0; i < P_MUT; i++) {
			long j = (long)(gcx_rand(&rng) % (uint64_t)P_LISTS), pos, v;
			lnode *p = lists[j];

			if (!p)
				continue;
			pos = (long)(gcx_rand(&rng) % (uint64_t)len[j]);
			while (pos-- > 0 && p->next)
				p = p->next;
			if (gcx_rand(&rng) & 1) {
				v = (long)(gcx_rand(&rng) % 1000);
				p->next = alloc_node(v, p->next);	/* insert after p */
				len[j]++;
				sum[j] += v;
			} else if (p->next) {
				sum[j] -= p->next->value;		/* remove after p */
				p->next = p->next->next;
				len[j]--;
			}
		}
	}
	for (k = 0; k < P_LISTS && !why[0]; k++) {
		long n = 0, s = 0;
		lnode *p;

		for (p = lists[k]; p && n <= len[k]; p = p->next) {
			n++;
			s += p->value;
		}
		if (n != len[k] || s != sum[k])
			snprintf(why, sizeof(why), "list %ld: %ld nodes sum %ld, model %ld nodes sum %ld",
				 k, n, s, len[k], sum[k]);
	}
	gcx_end();
	return gcx_finish(!why[0], why);
}
