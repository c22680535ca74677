/*
 * Host tests for pt.c: page tables built in an ordinary heap arena whose
 * "physical" addresses are offset from the virtual ones, so every
 * pa <-> va conversion in pt.c is exercised.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "../../pt.h"

#define ARENA_PAGES	4096
#define FAKE_PA_BASE	0x40000000ULL

struct arena {
	uint8_t *base;
	size_t used, limit;	/* pages */
	size_t freed;		/* pages given back through free_page */
};

static void *a_alloc(void *arg, physaddr_t *pa)
{
	struct arena *a = arg;
	uint8_t *p;

	if (a->used >= a->limit)
		return NULL;
	p = a->base + a->used++ * PGSIZE;
	memset(p, 0, PGSIZE);
	*pa = FAKE_PA_BASE + (physaddr_t)(p - a->base);
	return p;
}

static void *a_pa_to_va(void *arg, physaddr_t pa)
{
	struct arena *a = arg;

	return a->base + (pa - FAKE_PA_BASE);
}

static void a_free(void *arg, void *page, physaddr_t pa)
{
	struct arena *a = arg;

	if (a_pa_to_va(arg, pa) == page)
		a->freed++;
}

static struct arena arena;

static void setup(struct pt *pt, size_t limit)
{
	struct pt_ops ops = { a_alloc, a_pa_to_va, &arena, a_free };

	if (!arena.base)
		arena.base = aligned_alloc(PGSIZE, ARENA_PAGES * PGSIZE);
	arena.used = 0;
	arena.freed = 0;
	arena.limit = limit;
	CHECK_EQ(pt_init(pt, &ops), 0);
	CHECK_EQ(pt->root_pa, FAKE_PA_BASE);
}

#define RW_NX	(PTE_W | PTE_NX | PTE_U)

static void test_map_4k(void)
{
	struct pt pt;
	physaddr_t pa;
	ptent_t leaf, *e;
	int level = -1;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x400000, PGSIZE, 0x1234000, RW_NX), 0);
	CHECK_EQ(pt_translate(&pt, 0x400abc, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x1234abc);
	CHECK(leaf & PTE_P);
	CHECK(leaf & PTE_W);
	CHECK(leaf & PTE_U);
	CHECK(leaf & PTE_NX);
	CHECK(!(leaf & PTE_PS));
	e = pt_lookup(&pt, 0x400000, 0, &level);
	CHECK(e != NULL);
	CHECK_EQ(level, PT_LEVEL_4K);
	CHECK_EQ(e ? *e : 0, leaf);
	CHECK_EQ(pt_translate(&pt, 0x401000, &pa, NULL), -ENOENT);
	CHECK_EQ(pt_translate(&pt, 0x3ff000, &pa, NULL), -ENOENT);
	/* root + PDPT + PD + PT */
	CHECK_EQ(arena.used, 4);
	/* intermediate entries are permissive, never NX */
	CHECK(!(pt.root[PDX(3, 0x400000)] & PTE_NX));
	CHECK(pt.root[PDX(3, 0x400000)] & PTE_U);
}

static void test_map_big(void)
{
	struct pt pt;
	physaddr_t pa;
	ptent_t leaf;
	int level = -1;
	ptent_t *e;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x40000000, 2 * BIG_PGSIZE, 0x80000000, PTE_W), 0);
	CHECK_EQ(arena.used, 3);	/* no PT page: two 2 MiB PDEs */
	CHECK_EQ(pt_translate(&pt, 0x40000000 + BIG_PGSIZE + 0x12345, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x80000000 + BIG_PGSIZE + 0x12345);
	CHECK(leaf & PTE_PS);
	CHECK(leaf & PTE_W);
	CHECK(!(leaf & PTE_NX));
	e = pt_lookup(&pt, 0x40100000, 0, &level);
	CHECK(e != NULL);
	CHECK_EQ(level, PT_LEVEL_2M);
}

static void test_map_misaligned_pa(void)
{
	struct pt pt;
	ptent_t leaf;
	physaddr_t pa;

	setup(&pt, ARENA_PAGES);
	/* va 2 MiB aligned, pa only 4 KiB aligned: must use 4 KiB pages */
	CHECK_EQ(pt_map(&pt, 0x40000000, BIG_PGSIZE, 0x80001000, 0), 0);
	CHECK_EQ(pt_translate(&pt, 0x401ff000, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x80001000 + 0x1ff000);
	CHECK(!(leaf & PTE_PS));
	CHECK_EQ(arena.used, 4);
}

static void test_map_mixed(void)
{
	struct pt pt;
	physaddr_t pa;
	ptent_t leaf;
	uint64_t va = 0x40000000 - 3 * PGSIZE;	/* 3 small pages, one big page, 2 small */
	uint64_t len = 3 * PGSIZE + BIG_PGSIZE + 2 * PGSIZE;
	uint64_t off;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, va, len, va + 0x100000000ULL, PTE_W), 0);
	for (off = 0; off < len; off += PGSIZE) {
		CHECK_EQ(pt_translate(&pt, va + off, &pa, &leaf), 0);
		CHECK_EQ(pa, va + off + 0x100000000ULL);
	}
	CHECK_EQ(pt_translate(&pt, 0x40000000, &pa, &leaf), 0);
	CHECK(leaf & PTE_PS);
	CHECK_EQ(pt_translate(&pt, va - PGSIZE, &pa, NULL), -ENOENT);
	CHECK_EQ(pt_translate(&pt, va + len, &pa, NULL), -ENOENT);
}

static void test_nobig(void)
{
	struct pt pt;
	ptent_t leaf;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x200000, BIG_PGSIZE, 0x200000, PT_MAP_NOBIG | PTE_W), 0);
	CHECK_EQ(pt_translate(&pt, 0x200000, NULL, &leaf), 0);
	CHECK(!(leaf & PTE_PS));
	CHECK(!(leaf & PT_MAP_NOBIG));	/* software flag stripped */
}

static void test_unmap_splits(void)
{
	struct pt pt;
	physaddr_t pa;
	ptent_t leaf;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x600000, BIG_PGSIZE, 0xa00000, PTE_W | PTE_NX), 0);
	CHECK_EQ(pt_unmap(&pt, 0x650000, PGSIZE), 0);
	CHECK_EQ(pt_translate(&pt, 0x650000, &pa, NULL), -ENOENT);
	CHECK_EQ(pt_translate(&pt, 0x64f000, &pa, &leaf), 0);
	CHECK_EQ(pa, 0xa4f000);
	CHECK(!(leaf & PTE_PS));
	CHECK(leaf & PTE_W);
	CHECK(leaf & PTE_NX);
	CHECK_EQ(pt_translate(&pt, 0x651000, &pa, NULL), 0);
	CHECK_EQ(pa, 0xa51000);
	CHECK_EQ(pt_translate(&pt, 0x7ff000, &pa, NULL), 0);
	CHECK_EQ(pa, 0xbff000);
	/* a whole big page goes without splitting */
	CHECK_EQ(pt_map(&pt, 0x800000, BIG_PGSIZE, 0x800000, 0), 0);
	{
		size_t before = arena.used;

		CHECK_EQ(pt_unmap(&pt, 0x800000, BIG_PGSIZE), 0);
		CHECK_EQ(arena.used, before);
	}
	CHECK_EQ(pt_translate(&pt, 0x800000, &pa, NULL), -ENOENT);
	/* unmapping nothing is fine */
	CHECK_EQ(pt_unmap(&pt, 0x7f0000000000ULL, 16 * PGSIZE), 0);
}

static void test_protect(void)
{
	struct pt pt;
	ptent_t leaf;
	physaddr_t pa;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x1000000, BIG_PGSIZE, 0x1000000, PTE_W | PTE_U), 0);
	CHECK_EQ(pt_protect(&pt, 0x1001000, 2 * PGSIZE, PTE_NX | PTE_U), 0);
	CHECK_EQ(pt_translate(&pt, 0x1001000, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x1001000);
	CHECK(!(leaf & PTE_W));
	CHECK(leaf & PTE_NX);
	CHECK(leaf & PTE_U);
	CHECK_EQ(pt_translate(&pt, 0x1002000, NULL, &leaf), 0);
	CHECK(!(leaf & PTE_W));
	CHECK_EQ(pt_translate(&pt, 0x1003000, NULL, &leaf), 0);
	CHECK(leaf & PTE_W);
	CHECK(!(leaf & PTE_NX));
	CHECK_EQ(pt_translate(&pt, 0x1000000, NULL, &leaf), 0);
	CHECK(leaf & PTE_W);
	/* protect does not create mappings */
	CHECK_EQ(pt_protect(&pt, 0x5000000, PGSIZE, PTE_W), 0);
	CHECK_EQ(pt_translate(&pt, 0x5000000, NULL, NULL), -ENOENT);
}

/* A 4 KiB range across two leaf tables, with holes and a 2 MiB page in the
 * middle: protect and unmap change exactly the pages in the range. */
static void test_protect_runs(void)
{
	struct pt pt;
	ptent_t leaf;
	uint64_t va;

	setup(&pt, ARENA_PAGES);
	/* 0x1fe000..0x200000: last two PTEs of one table; 0x200000..0x400000 a 2 MiB
	 * page; 0x400000..0x402000 first two PTEs of the next table but one */
	CHECK_EQ(pt_map(&pt, 0x1fe000, 2 * PGSIZE, 0x1fe000, PTE_W | PT_MAP_NOBIG), 0);
	CHECK_EQ(pt_map(&pt, 0x200000, BIG_PGSIZE, 0x200000, PTE_W), 0);
	CHECK_EQ(pt_map(&pt, 0x400000, PGSIZE, 0x400000, PTE_W | PT_MAP_NOBIG), 0);
	CHECK_EQ(pt_map(&pt, 0x402000, PGSIZE, 0x402000, PTE_W | PT_MAP_NOBIG), 0);
	CHECK_EQ(pt_map(&pt, 0x403000, PGSIZE, 0x403000, PTE_W | PT_MAP_NOBIG), 0);
	CHECK_EQ(pt_protect(&pt, 0x1ff000, 0x403000 - 0x1ff000, 0), 0);
	CHECK_EQ(pt_translate(&pt, 0x1fe000, NULL, &leaf), 0);
	CHECK(leaf & PTE_W);
	for (va = 0x1ff000; va < 0x403000; va += PGSIZE) {
		if (va == 0x401000) {
			CHECK_EQ(pt_translate(&pt, va, NULL, NULL), -ENOENT);
			continue;
		}
		CHECK_EQ(pt_translate(&pt, va, NULL, &leaf), 0);
		CHECK(!(leaf & PTE_W));
	}
	CHECK_EQ(pt_translate(&pt, 0x403000, NULL, &leaf), 0);
	CHECK(leaf & PTE_W);
	/* the hole stays a hole (protect creates nothing) */
	CHECK_EQ(pt_translate(&pt, 0x401000, NULL, NULL), -ENOENT);
	CHECK_EQ(pt_unmap(&pt, 0x1ff000, 0x403000 - 0x1ff000), 0);
	CHECK_EQ(pt_translate(&pt, 0x1fe000, NULL, NULL), 0);
	for (va = 0x1ff000; va < 0x403000; va += PGSIZE)
		CHECK_EQ(pt_translate(&pt, va, NULL, NULL), -ENOENT);
	CHECK_EQ(pt_translate(&pt, 0x403000, NULL, NULL), 0);
}

static void test_lookup_create(void)
{
	struct pt pt;
	ptent_t *e;
	int level = -1;

	setup(&pt, ARENA_PAGES);
	e = pt_lookup(&pt, 0x7000000, 0, NULL);
	CHECK(e == NULL);
	e = pt_lookup(&pt, 0x7000000, 1, &level);
	CHECK(e != NULL);
	CHECK_EQ(level, PT_LEVEL_4K);
	CHECK_EQ(e ? *e : 1, 0);
	/* splitting a big page via lookup(create) */
	CHECK_EQ(pt_map(&pt, 0x8000000, BIG_PGSIZE, 0x9000000, PTE_W), 0);
	e = pt_lookup(&pt, 0x8003000, 1, &level);
	CHECK(e != NULL);
	CHECK_EQ(level, PT_LEVEL_4K);
	if (e) {
		CHECK_EQ(PTE_ADDR_OF(*e), 0x9003000);
		CHECK(*e & PTE_W);
		CHECK(!(*e & PTE_PS));
		/* clear P through the pointer, as a pgflt test does */
		*e &= ~PTE_P;
		CHECK_EQ(pt_translate(&pt, 0x8003000, NULL, NULL), -ENOENT);
		*e |= PTE_P;
		CHECK_EQ(pt_translate(&pt, 0x8003000, NULL, NULL), 0);
	}
}

static int count_cb(void *arg, uint64_t va, ptent_t *leaf, int level)
{
	uint64_t *c = arg;

	(void)va;
	(void)leaf;
	c[level]++;
	return 0;
}

static void test_walk(void)
{
	struct pt pt;
	uint64_t counts[3] = { 0, 0, 0 };

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x200000 - 2 * PGSIZE, 2 * PGSIZE + BIG_PGSIZE, 0x200000 - 2 * PGSIZE, 0), 0);
	CHECK_EQ(pt_map(&pt, 0x7fff00000000ULL, 3 * PGSIZE, 0x10000000, 0), 0);
	CHECK_EQ(pt_walk(&pt, 0, VA_USER_LIMIT, count_cb, counts), 0);
	CHECK_EQ(counts[PT_LEVEL_4K], 5);
	CHECK_EQ(counts[PT_LEVEL_2M], 1);
	memset(counts, 0, sizeof(counts));
	CHECK_EQ(pt_walk(&pt, 0x1ff000, 0x200000, count_cb, counts), 0);
	CHECK_EQ(counts[PT_LEVEL_4K], 1);
	CHECK_EQ(counts[PT_LEVEL_2M], 0);
}

static void test_high_and_invalid(void)
{
	struct pt pt;
	physaddr_t pa;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, VA_USER_LIMIT - PGSIZE, PGSIZE, 0x5000, 0), 0);
	CHECK_EQ(pt_translate(&pt, VA_USER_LIMIT - 1, &pa, NULL), 0);
	CHECK_EQ(pa, 0x5fff);
	CHECK_EQ(pt_map(&pt, VA_USER_LIMIT, PGSIZE, 0x5000, 0), -EINVAL);
	CHECK_EQ(pt_map(&pt, VA_USER_LIMIT - PGSIZE, 2 * PGSIZE, 0x5000, 0), -EINVAL);
	CHECK_EQ(pt_map(&pt, 0x1001, PGSIZE, 0x5000, 0), -EINVAL);
	CHECK_EQ(pt_map(&pt, 0x1000, 100, 0x5000, 0), -EINVAL);
	CHECK_EQ(pt_map(&pt, 0x1000, PGSIZE, 0x5001, 0), -EINVAL);
	CHECK_EQ(pt_translate(&pt, 0xffffffffff600000ULL, &pa, NULL), -ENOENT);
	CHECK(pt_lookup(&pt, 0xffffffffff600000ULL, 1, NULL) == NULL);
}

static void test_oom(void)
{
	struct pt pt;

	setup(&pt, 3);	/* root + PDPT + PD only */
	CHECK_EQ(pt_map(&pt, 0x200000, BIG_PGSIZE, 0x200000, 0), 0);	/* big page: fits */
	CHECK_EQ(pt_map(&pt, 0x400000, PGSIZE, 0x400000, 0), -ENOMEM);	/* needs a PT */
	CHECK_EQ(pt_unmap(&pt, 0x200000, PGSIZE), -ENOMEM);		/* split needs a PT */
	CHECK_EQ(pt_translate(&pt, 0x200000, NULL, NULL), 0);		/* still intact */
}

static void test_reuse_table(void)
{
	struct pt pt;
	ptent_t leaf;
	size_t before;
	uint64_t off;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x200000, PGSIZE, 0x200000, 0), 0);
	before = arena.used;
	/* a big-aligned remap over an existing page table fills it instead of leaking it */
	CHECK_EQ(pt_map(&pt, 0x200000, BIG_PGSIZE, 0x200000, PTE_W), 0);
	CHECK_EQ(arena.used, before);
	for (off = 0; off < BIG_PGSIZE; off += PGSIZE) {
		CHECK_EQ(pt_translate(&pt, 0x200000 + off, NULL, &leaf), 0);
		CHECK(leaf & PTE_W);
	}
}

static void test_split_1g(void)
{
	struct pt pt;
	ptent_t *pdpt, leaf;
	physaddr_t pa;

	setup(&pt, ARENA_PAGES);
	/* build a 1 GiB leaf by hand, then unmap one 4 KiB page inside it */
	CHECK_EQ(pt_map(&pt, 0x40000000, PGSIZE, 0, 0), 0);
	pdpt = a_pa_to_va(&arena, PTE_ADDR_OF(pt.root[0]));
	pdpt[1] = 0x80000000ULL | PTE_P | PTE_W | PTE_PS;
	CHECK_EQ(pt_translate(&pt, 0x40123456, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x80123456);
	CHECK_EQ(pt_unmap(&pt, 0x40200000, PGSIZE), 0);
	CHECK_EQ(pt_translate(&pt, 0x40200000, &pa, NULL), -ENOENT);
	CHECK_EQ(pt_translate(&pt, 0x40201000, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x80201000);
	CHECK(leaf & PTE_W);
	CHECK_EQ(pt_translate(&pt, 0x7fffffff, &pa, &leaf), 0);
	CHECK_EQ(pa, 0xbfffffff);
	CHECK(leaf & PTE_PS);	/* untouched parts stay 2 MiB pages */
}

static void test_free_all_tables(void)
{
	struct pt pt;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x400000, 3 * PGSIZE, 0x1000000, PTE_W), 0);
	CHECK_EQ(pt_map(&pt, 0x7f0000000000ULL, BIG_PGSIZE, 0x2000000, PTE_W), 0);
	CHECK_EQ(pt_count_tables(&pt), arena.used);
	pt_free(&pt);
	CHECK_EQ(arena.freed, arena.used);
	CHECK(pt.root == NULL);
}

static int mark_ro(void *arg, uint64_t va, ptent_t *src, ptent_t *dst, int level)
{
	int *n = arg;

	(void)va;
	(void)level;
	*src &= ~PTE_W;
	*dst |= PTE_AVAIL;
	(*n)++;
	return 0;
}

static void test_clone(void)
{
	struct pt pt, copy;
	physaddr_t pa;
	ptent_t leaf;
	size_t before;
	int n = 0;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x400000, 2 * PGSIZE, 0x1000000, PTE_W), 0);
	CHECK_EQ(pt_map(&pt, 0x40000000, BIG_PGSIZE, 0x2000000, PTE_W), 0);
	before = arena.used;
	CHECK_EQ(pt_clone(&pt, &copy, mark_ro, &n), 0);
	CHECK_EQ(n, 3);				/* two 4K leaves and one 2M leaf */
	CHECK_EQ(arena.used, 2 * before);	/* every table copied once */
	CHECK(copy.root != pt.root);
	CHECK_EQ(pt_translate(&copy, 0x401123, &pa, &leaf), 0);
	CHECK_EQ(pa, 0x1001123);
	CHECK(leaf & PTE_W);
	CHECK(leaf & PTE_AVAIL);
	CHECK_EQ(pt_translate(&pt, 0x401123, &pa, &leaf), 0);
	CHECK(!(leaf & PTE_W));
	CHECK_EQ(pt_translate(&copy, 0x40012345, &pa, &leaf), 0);
	CHECK(leaf & PTE_PS);
	/* independent: unmapping in the copy leaves the source alone */
	CHECK_EQ(pt_unmap(&copy, 0x400000, PGSIZE), 0);
	CHECK_EQ(pt_translate(&copy, 0x400000, &pa, NULL), -ENOENT);
	CHECK_EQ(pt_translate(&pt, 0x400000, &pa, NULL), 0);
	pt_free(&copy);
	CHECK_EQ(arena.freed, before);
}

static void test_clone_oom(void)
{
	struct pt pt, copy;

	setup(&pt, 6);
	CHECK_EQ(pt_map(&pt, 0x400000, PGSIZE, 0x1000000, PTE_W), 0);	/* 4 tables */
	CHECK_EQ(pt_clone(&pt, &copy, NULL, NULL), -ENOMEM);
	CHECK_EQ(arena.freed, 2);	/* the partial copy was given back */
}

static void test_protect_mask(void)
{
	struct pt pt;
	ptent_t leaf;

	setup(&pt, ARENA_PAGES);
	CHECK_EQ(pt_map(&pt, 0x400000, PGSIZE, 0x1000000, PTE_W | PTE_D | PTE_AVAIL), 0);
	CHECK_EQ(pt_protect_mask(&pt, 0x400000, PGSIZE, PTE_W | PTE_AVAIL | PTE_P | PTE_ADDR, PTE_NX), 0);
	CHECK_EQ(pt_translate(&pt, 0x400000, NULL, &leaf), 0);
	CHECK_EQ(leaf, 0x1000000 | PTE_P | PTE_D);	/* P and frame untouchable, D kept */
}

const struct test_case pt_tests[] = {
	{ "pt: free gives back every table", test_free_all_tables },
	{ "pt: clone copies tables, callback edits both", test_clone },
	{ "pt: clone OOM frees the partial copy", test_clone_oom },
	{ "pt: protect_mask", test_protect_mask },
	{ "pt: map 4K page, flags, lookup", test_map_4k },
	{ "pt: 2M pages when aligned", test_map_big },
	{ "pt: misaligned pa -> 4K pages", test_map_misaligned_pa },
	{ "pt: mixed 4K/2M range", test_map_mixed },
	{ "pt: PT_MAP_NOBIG", test_nobig },
	{ "pt: unmap splits 2M page", test_unmap_splits },
	{ "pt: protect changes W/NX/U only", test_protect },
	{ "pt: protect/unmap runs across tables and holes", test_protect_runs },
	{ "pt: lookup with create splits", test_lookup_create },
	{ "pt: walk", test_walk },
	{ "pt: user-half limit and bad args", test_high_and_invalid },
	{ "pt: out of memory", test_oom },
	{ "pt: remap reuses page table", test_reuse_table },
	{ "pt: split a 1G page", test_split_1g },
	TEST_LIST_END
};
