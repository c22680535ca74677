/*
 * XML: parse a generated document with expat into a tree allocated in the collected
 * heap, walk it, drop it; repeat.  The document is generated in ordinary malloc'd
 * memory (deterministic from the seed), so no system call ever writes into the
 * collected heap; expat's own state is malloc'd too.  Element nodes, their child
 * arrays (grown by doubling), attribute arrays and strings (pointer-free) are GC
 * objects.  The previous round's tree stays alive while the next one is built.
 * Each walk must find exactly the elements, id sum and text bytes the generator wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "harness.h"

typedef struct xnode {
	struct xnode *parent;
	struct xnode **children;
	char *name;
	char **attrs;		/* name, value, ..., NULL */
	char *text;
	size_t nchildren, cap, textlen, textcap;
} xnode;

static struct gcx_param params[] = {
	{ "elements", 200000 }, { "rounds", 10 }, { "seed", 1 },
};
#define P_ELEMENTS params[0].value
#define P_ROUNDS params[1].value
#define P_SEED params[2].value

struct expect {
	long elements, idsum, textbytes;
};

/* ------------------------------------------------------------------ generator */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			printf("FAIL xml: out of memory (document)\n");
			exit(1);
		}
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static const char *const names[] = { "item", "group", "entry", "meta", "value", "record" };
static const char *const words[] = { "alpha", "beta", "gamma", "delta", "dune", "page", "dirty",
				     "bit", "heap", "mark", "sweep", "&amp;", "tree" };

static void gen(struct buf *b, uint64_t *rng, long *left, int depth, struct expect *x)
{
	char tmp[96];
	const char *name = names[gcx_rand(rng) % 6];
	long id = (long)(gcx_rand(rng) % 1000000);
	int n, i, nw;

	(*left)--;
	x->elements++;
	x->idsum += id;
	n = snprintf(tmp, sizeof(tmp), "<%s id=\"%ld\" kind=\"k%d\">", name, id, (int)(gcx_rand(rng) % 7));
	put(b, tmp, (size_t)n);
	nw = (int)(gcx_rand(rng) % 4);
	for (i = 0; i < nw; i++) {
		const char *w = words[gcx_rand(rng) % 13];

		put(b, w, strlen(w));
		put(b, " ", 1);
		x->textbytes += (long)(strcmp(w, "&amp;") ? strlen(w) : 1) + 1;
	}
	if (depth < 12) {
		int kids = (int)(gcx_rand(rng) % (depth < 3 ? 12 : 5));

		for (i = 0; i < kids && *left > 0; i++)
			gen(b, rng, left, depth + 1, x);
	}
	n = snprintf(tmp, sizeof(tmp), "</%s>\n", name);
	put(b, tmp, (size_t)n);
	x->textbytes++;		/* the newline after the end tag is text of the parent */
}

/* ------------------------------------------------------------------ tree builder */

static struct {
	xnode *root, *cur;	/* static: a root the collector scans */
	int oom;
} B;

static void *xalloc(size_t n, int atomic)
{
	void *p = atomic ? GC_MALLOC_ATOMIC(n) : GC_MALLOC(n);

	if (!p) {
		printf("FAIL xml: out of memory\n");
		exit(1);
	}
	return p;
}

static char *gc_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = xalloc(n, 1);

	memcpy(d, s, n);
	return d;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	xnode *n = xalloc(sizeof(xnode), 0);
	int na = 0, i;

	(void)ud;
	n->name = gc_strdup(name);
	while (atts[na])
		na++;
	n->attrs = xalloc(sizeof(char *) * (size_t)(na + 1), 0);
	for (i = 0; i < na; i++)
		n->attrs[i] = gc_strdup(atts[i]);
	n->parent = B.cur;
	if (B.cur) {
		xnode *p = B.cur;

		if (p->nchildren == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 4;
			xnode **c = xalloc(cap * sizeof(xnode *), 0);

			if (p->nchildren)
				memcpy(c, p->children, p->nchildren * sizeof(xnode *));
			p->children = c;
			p->cap = cap;
		}
		p->children[p->nchildren++] = n;
	} else {
		B.root = n;
	}
	B.cur = n;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	(void)ud;
	(void)name;
	B.cur = B.cur->parent;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	xnode *n = B.cur;

	(void)ud;
	if (!n)
		return;
	if (n->textlen + (size_t)len + 1 > n->textcap) {
		size_t cap = (n->textlen + (size_t)len + 1) * 2;
		char *t = xalloc(cap, 1);

		if (n->textlen)
			memcpy(t, n->text, n->textlen);
		n->text = t;
		n->textcap = cap;
	}
	memcpy(n->text + n->textlen, s, (size_t)len);
	n->textlen += (size_t)len;
	n->text[n->textlen] = 0;
}

static void walk(const xnode *n, struct expect *got)
{
	size_t i;

	got->elements++;
	got->textbytes += (long)n->textlen;
	for (i = 0; n->attrs[i]; i += 2)
		if (!strcmp(n->attrs[i], "id"))
			got->idsum += strtol(n->attrs[i + 1], NULL, 10);
	for (i = 0; i < n->nchildren; i++)
		walk(n->children[i], got);
}

int main(int argc, char **argv)
{
	struct buf doc = { 0 };
	struct expect want = { 0 };
	xnode *volatile prev = NULL;
	uint64_t rng;
	long left, r;
	char why[200] = "";

	gcx_setup("xml", argc, argv, params, (int)(sizeof(params) / sizeof(params[0])));
	if (P_ELEMENTS < 1) {
		printf("FAIL xml: need elements >= 1\n");
		return 2;
	}
	rng = (uint64_t)P_SEED * 0x9E3779B97F4A7C15ULL + 3;
	left = P_ELEMENTS;
	put(&doc, "<?xml version=\"1.0\"?>\n", 22);
	/* one root holding as many top-level subtrees as it takes */
	want.elements = 1;
	put(&doc, "<doc>\n", 6);
	want.textbytes++;
	while (left > 0)
		gen(&doc, &rng, &left, 1, &want);
	put(&doc, "</doc>\n", 7);

	gcx_begin();
	for (r = 0; r < P_ROUNDS && !why[0]; r++) {
		XML_Parser p = XML_ParserCreate(NULL);
		struct expect got = { 0 };

		if (!p) {
			snprintf(why, sizeof(why), "XML_ParserCreate failed");
			break;
		}
		XML_SetElementHandler(p, on_start, on_end);
		XML_SetCharacterDataHandler(p, on_text);
		B.root = B.cur = NULL;
		if (XML_Parse(p, doc.p, (int)doc.len, 1) != XML_STATUS_OK) {
			snprintf(why, sizeof(why), "expat: %s at line %lu",
				 XML_ErrorString(XML_GetErrorCode(p)), (unsigned long)XML_GetCurrentLineNumber(p));
			XML_ParserFree(p);
			break;
		}
		XML_ParserFree(p);
		walk(B.root, &got);
		if (got.elements != want.elements || got.idsum != want.idsum ||
		    got.textbytes != want.textbytes)
			snprintf(why, sizeof(why), "round %ld: %ld elements, id sum %ld, %ld text bytes; "
				 "generated %ld, %ld, %ld", r, got.elements, got.idsum, got.textbytes,
				 want.elements, want.idsum, want.textbytes);
		/* the previous tree must still be intact, then it is dropped */
		if (prev && !why[0]) {
			struct expect old = { 0 };

			walk(prev, &old);
			if (old.elements != want.elements || old.idsum != want.idsum)
				snprintf(why, sizeof(why), "round %ld: previous tree damaged", r);
		}
		prev = B.root;
		B.root = B.cur = NULL;
	}
	gcx_end();
	free(doc.p);
	return gcx_finish(!why[0], why);
}
