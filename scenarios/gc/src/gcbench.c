/*
 * GCBench, written from its published description (Ellis and Kovac's benchmark as
 * adapted to C by Boehm): stretch the heap with one big short-lived tree, keep a
 * long-lived tree and an array of doubles for the whole run, then build and drop
 * many trees of increasing depth, top-down (Populate: the parent exists first and its
 * fields are written afterwards) and bottom-up (MakeTree: children first).  Original
 * sizes: stretch 18, long-lived 16, array 500000, depths 4..16 step 2.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

typedef struct node {
	struct node *left, *right;
	int i, j;
} node;

static struct gcx_param params[] = {
	{ "stretch", 18 }, { "long", 16 }, { "array", 500000 }, { "min", 4 }, { "max", 16 },
};
#define P_STRETCH params[0].value
#define P_LONG params[1].value
#define P_ARRAY params[2].value
#define P_MIN params[3].value
#define P_MAX params[4].value

static node *new_node(node *l, node *r)
{
	node *n = GC_MALLOC(sizeof(node));

	if (!n) {
		printf("FAIL gcbench: out of memory\n");
		exit(1);
	}
	n->left = l;
	n->right = r;
	return n;
}

static long tree_size(long depth)
{
	return (1L << (depth + 1)) - 1;
}

static long num_iters(long depth)
{
	return 2 * tree_size(P_STRETCH) / tree_size(depth);
}

/* Top-down: build the children of an existing node. */
static void populate(long depth, node *n)
{
	if (depth <= 0)
		return;
	depth--;
	n->left = new_node(NULL, NULL);
	n->right = new_node(NULL, NULL);
	populate(depth, n->left);
	populate(depth, n->right);
}

/* Bottom-up. */
static node *make_tree(long depth)
{
	if (depth <= 0)
		return new_node(NULL, NULL);
	return new_node(make_tree(depth - 1), make_tree(depth - 1));
}

static long count(const node *n)
{
	return n ? 1 + count(n->left) + count(n->right) : 0;
}

static long time_construction(long depth)
{
	long iters = num_iters(depth), i, bad = 0;
	node *t;

	for (i = 0; i < iters; i++) {
		t = new_node(NULL, NULL);
		populate(depth, t);
		if (i == 0 && count(t) != tree_size(depth))
			bad++;
		t = NULL;
	}
	for (i = 0; i < iters; i++) {
		t = make_tree(depth);
		if (i == 0 && count(t) != tree_size(depth))
			bad++;
		t = NULL;
	}
	return bad;
}

int main(int argc, char **argv)
{
	node *volatile long_lived;
	double *volatile array;
	long d, i, bad = 0;
	char why[128] = "";

	gcx_setup("gcbench", argc, argv, params, (int)(sizeof(params) / sizeof(params[0])));
	if (P_MIN > P_MAX || P_STRETCH < P_MAX || P_ARRAY < 2 || P_LONG < 1) {
		printf("FAIL gcbench: need min <= max <= stretch, array >= 2, long >= 1\n");
		return 2;
	}
	gcx_begin();
	/* stretch the heap */
	{
		node *t = make_tree(P_STRETCH);

		if (count(t) != tree_size(P_STRETCH))
			bad++;
	}
	long_lived = new_node(NULL, NULL);
	populate(P_LONG, long_lived);
	array = GC_MALLOC_ATOMIC(sizeof(double) * (size_t)P_ARRAY);
	if (!array) {
		printf("FAIL gcbench: out of memory\n");
		return 1;
	}
	for (i = 0; i < P_ARRAY / 2; i++)
		array[i] = 1.0 / (double)(i + 1);
	for (d = P_MIN; d <= P_MAX; d += 2)
		bad += time_construction(d);
	/* the long-lived data must have survived every collection intact */
	if (count(long_lived) != tree_size(P_LONG))
		snprintf(why, sizeof(why), "long-lived tree has %ld nodes, wanted %ld", count(long_lived),
			 tree_size(P_LONG));
	for (i = 0; i < P_ARRAY / 2 && !why[0]; i++)
		if (array[i] != 1.0 / (double)(i + 1))
			snprintf(why, sizeof(why), "array[%ld] changed", i);
	if (bad && !why[0])
		snprintf(why, sizeof(why), "%ld trees had the wrong size", bad);
	gcx_end();
	return gcx_finish(!why[0], why);
}
