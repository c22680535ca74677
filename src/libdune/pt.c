/*
 * pt.c - x86-64 4-level page-table builder (see pt.h).  Pure C over memory
 * supplied by the caller; unit-tested on the host by tests/host/test_pt.c.
 */
#include <errno.h>
#include <string.h>
#include "pt.h"

#define TABLE_BITS	(PTE_P | PTE_W | PTE_U)	/* non-leaf entries: leaves decide */
#define LEAF_KEEP	(0xFFFULL | 0xFFF0000000000000ULL)	/* flag bits of a leaf */
#define PROT_BITS	(PTE_W | PTE_U | PTE_NX)

static inline uint64_t level_size(int lvl)
{
	return 1ULL << (PGSHIFT + lvl * NPTBITS);
}

static inline ptent_t *table_of(const struct pt *pt, ptent_t e)
{
	return (ptent_t *)pt->ops.pa_to_va(pt->ops.arg, PTE_ADDR_OF(e));
}

static ptent_t *alloc_table(struct pt *pt, physaddr_t *pa)
{
	ptent_t *t = pt->ops.alloc_page(pt->ops.arg, pa);

	if (t && (*pa & (PGSIZE - 1)))
		return NULL;	/* allocator broke its contract */
	return t;
}

int pt_init(struct pt *pt, const struct pt_ops *ops)
{
	memset(pt, 0, sizeof(*pt));
	pt->ops = *ops;
	pt->root = alloc_table(pt, &pt->root_pa);
	return pt->root ? 0 : -ENOMEM;
}

/* Replace the large leaf *e at level lvl (1 = 2 MiB, 2 = 1 GiB) by a table of
 * 512 entries one level down describing the same mapping. */
static int split_entry(struct pt *pt, ptent_t *e, int lvl)
{
	physaddr_t tpa;
	ptent_t *t = alloc_table(pt, &tpa);
	ptent_t old = *e;
	uint64_t flags, base, step = level_size(lvl - 1);
	int i;

	if (!t)
		return -ENOMEM;
	/* Bit 12 of a large leaf is PAT; we never set it, drop it. */
	base = old & PTE_ADDR & ~(level_size(lvl) - 1);
	flags = old & LEAF_KEEP;
	if (lvl == 1)
		flags &= ~PTE_PS;	/* 4 KiB PTEs have no PS bit (bit 7 is PAT there) */
	for (i = 0; i < NPTENTRIES; i++)
		t[i] = (base + i * step) | flags;
	*e = tpa | TABLE_BITS;
	return 0;
}

int pt_split_big(struct pt *pt, uint64_t va)
{
	ptent_t *table = pt->root;
	int lvl;

	for (lvl = 3; lvl >= 1; lvl--) {
		ptent_t *e = &table[PDX(lvl, va)];

		if (!(*e & PTE_P))
			return 0;
		if (*e & PTE_PS) {
			if (lvl == 3)
				return -EINVAL;
			if (split_entry(pt, e, lvl))
				return -ENOMEM;
		}
		table = table_of(pt, *e);
	}
	return 0;
}

/* Pointer to the entry at level `lvl` for va.  With create, missing tables
 * above it are allocated and large pages above it are split. */
static ptent_t *get_entry(struct pt *pt, uint64_t va, int lvl, int create)
{
	ptent_t *table = pt->root;
	int l;

	for (l = 3; l > lvl; l--) {
		ptent_t *e = &table[PDX(l, va)];

		if (!(*e & PTE_P)) {
			physaddr_t pa;

			if (!create || !alloc_table(pt, &pa))
				return NULL;
			/* alloc_table returned a zeroed page */
			*e = pa | TABLE_BITS;
		} else if (*e & PTE_PS) {
			if (!create || l == 3 || split_entry(pt, e, l))
				return NULL;
		}
		table = table_of(pt, *e);
	}
	return &table[PDX(lvl, va)];
}

ptent_t *pt_lookup(struct pt *pt, uint64_t va, int create, int *level)
{
	ptent_t *table = pt->root;
	int l;

	if (va >= VA_USER_LIMIT)
		return NULL;
	if (create) {
		ptent_t *e = get_entry(pt, va, 0, 1);

		if (e && level)
			*level = PT_LEVEL_4K;
		return e;
	}
	for (l = 3; l > 0; l--) {
		ptent_t *e = &table[PDX(l, va)];

		if (!(*e & PTE_P))
			return NULL;
		if (*e & PTE_PS) {
			if (level)
				*level = l;
			return e;
		}
		table = table_of(pt, *e);
	}
	if (level)
		*level = PT_LEVEL_4K;
	return &table[PDX(0, va)];
}

int pt_translate(const struct pt *pt, uint64_t va, physaddr_t *pa, ptent_t *leaf)
{
	ptent_t *table = pt->root;
	int l;

	if (va >= VA_USER_LIMIT)
		return -ENOENT;
	for (l = 3; l >= 0; l--) {
		ptent_t e = table[PDX(l, va)];

		if (!(e & PTE_P))
			return -ENOENT;
		if (l == 0 || (e & PTE_PS)) {
			uint64_t sz = level_size(l);

			if (l == 3)
				return -ENOENT;	/* PS is reserved in a PML4E */
			if (pa)
				*pa = (e & PTE_ADDR & ~(sz - 1)) | (va & (sz - 1));
			if (leaf)
				*leaf = e;
			return 0;
		}
		table = table_of(pt, e);
	}
	return -ENOENT;
}

static int check_range(uint64_t va, uint64_t len)
{
	if ((va | len) & (PGSIZE - 1))
		return -EINVAL;
	if (va >= VA_USER_LIMIT || len > VA_USER_LIMIT - va)
		return -EINVAL;
	return 0;
}

int pt_map(struct pt *pt, uint64_t va, uint64_t len, physaddr_t pa, uint64_t flags)
{
	int allow_big = !(flags & PT_MAP_NOBIG);
	ptent_t leaf = (flags & LEAF_KEEP & ~(PTE_PS | PT_MAP_NOBIG)) | PTE_P;
	int ret = check_range(va, len);

	if (ret)
		return ret;
	if (pa & (PGSIZE - 1) || (pa & ~PTE_ADDR))
		return -EINVAL;
	while (len) {
		if (allow_big && !(va & (BIG_PGSIZE - 1)) && !(pa & (BIG_PGSIZE - 1)) &&
		    len >= BIG_PGSIZE) {
			ptent_t *pde = get_entry(pt, va, 1, 1);

			if (!pde)
				return -ENOMEM;
			/* An existing page table is reused (filled below) rather than leaked. */
			if (!(*pde & PTE_P) || (*pde & PTE_PS)) {
				*pde = pa | leaf | PTE_PS;
				va += BIG_PGSIZE;
				pa += BIG_PGSIZE;
				len -= BIG_PGSIZE;
				continue;
			}
		}
		{
			ptent_t *pte = get_entry(pt, va, 0, 1);

			if (!pte)
				return -ENOMEM;
			*pte = pa | leaf;
			va += PGSIZE;
			pa += PGSIZE;
			len -= PGSIZE;
		}
	}
	return 0;
}

enum range_op { OP_UNMAP, OP_PROTECT };

static int range_apply(struct pt *pt, uint64_t va, uint64_t end, enum range_op op,
		       uint64_t mask, uint64_t flags)
{
	while (va < end) {
		ptent_t *table = pt->root;
		int l;

		for (l = 3; l >= 0; l--) {
			ptent_t *e = &table[PDX(l, va)];
			uint64_t sz = level_size(l);

			if (l == 0) {
				/* The rest of this table's run in one pass: a 4 KiB range
				 * costs a loop iteration per page, not a walk from the root
				 * (dune_vm_mprotect over NRPGS pages in Appel's protN). */
				do {
					if (op == OP_UNMAP)
						*e = 0;	/* stale non-present leaves too */
					else if (*e & PTE_P)
						*e = (*e & ~mask) | (flags & mask);
					e++;
					va += PGSIZE;
				} while (va < end && PDX(0, va) != 0);
				break;
			}
			if (!(*e & PTE_P)) {
				va = (va & ~(sz - 1)) + sz;
				break;
			}
			if (*e & PTE_PS) {
				if (l == 3)
					return -EINVAL;
				if ((va & (sz - 1)) || end - va < sz) {
					/* partially covered large page: split and retry */
					if (split_entry(pt, e, l))
						return -ENOMEM;
					break;
				}
				if (op == OP_UNMAP)
					*e = 0;
				else
					*e = (*e & ~mask) | (flags & mask);
				va += sz;
				break;
			}
			table = table_of(pt, *e);
		}
		if (va == 0)	/* wrapped past the top */
			break;
	}
	return 0;
}

int pt_unmap(struct pt *pt, uint64_t va, uint64_t len)
{
	int ret = check_range(va, len);

	return ret ? ret : range_apply(pt, va, va + len, OP_UNMAP, 0, 0);
}

int pt_protect(struct pt *pt, uint64_t va, uint64_t len, uint64_t flags)
{
	int ret = check_range(va, len);

	return ret ? ret : range_apply(pt, va, va + len, OP_PROTECT, PROT_BITS, flags);
}

int pt_protect_mask(struct pt *pt, uint64_t va, uint64_t len, uint64_t mask, uint64_t flags)
{
	int ret = check_range(va, len);

	mask &= ~(PTE_P | PTE_PS | PTE_ADDR);
	return ret ? ret : range_apply(pt, va, va + len, OP_PROTECT, mask, flags);
}

static int walk_level(const struct pt *pt, ptent_t *table, int l, uint64_t base,
		      uint64_t start, uint64_t end, pt_walk_cb cb, void *arg)
{
	uint64_t sz = level_size(l);
	int i, ret;

	for (i = 0; i < NPTENTRIES; i++) {
		uint64_t va = base + i * sz;
		ptent_t *e = &table[i];

		if (va + sz <= start)
			continue;
		if (va >= end)
			break;
		if (!(*e & PTE_P))
			continue;
		if (l == 0 || (l < 3 && (*e & PTE_PS))) {
			ret = cb(arg, va, e, l);
		} else {
			ret = walk_level(pt, table_of(pt, *e), l - 1, va, start, end, cb, arg);
		}
		if (ret)
			return ret;
	}
	return 0;
}

int pt_walk(const struct pt *pt, uint64_t start, uint64_t end, pt_walk_cb cb, void *arg)
{
	if (end > VA_USER_LIMIT)
		end = VA_USER_LIMIT;
	if (start >= end)
		return 0;
	return walk_level(pt, pt->root, 3, 0, start, end, cb, arg);
}

/* Free the table at level l and everything below it. */
static void free_level(struct pt *pt, ptent_t *table, physaddr_t pa, int l)
{
	int i;

	if (l > 0) {
		for (i = 0; i < NPTENTRIES; i++) {
			ptent_t e = table[i];

			if ((e & PTE_P) && !(e & PTE_PS))
				free_level(pt, table_of(pt, e), PTE_ADDR_OF(e), l - 1);
		}
	}
	if (pt->ops.free_page)
		pt->ops.free_page(pt->ops.arg, table, pa);
}

void pt_free(struct pt *pt)
{
	if (pt->root)
		free_level(pt, pt->root, pt->root_pa, 3);
	pt->root = NULL;
	pt->root_pa = 0;
}

static int clone_level(struct pt *dst, const ptent_t *src, ptent_t *copy, int l,
		       uint64_t base, pt_clone_cb cb, void *arg)
{
	uint64_t sz = level_size(l);
	int i, ret;

	for (i = 0; i < NPTENTRIES; i++) {
		ptent_t e = src[i];

		if (!(e & PTE_P)) {
			copy[i] = e;	/* keep software state of non-present leaves */
			continue;
		}
		if (l == 0 || (l < 3 && (e & PTE_PS))) {
			copy[i] = e;
			if (cb && (ret = cb(arg, base + i * sz, (ptent_t *)&src[i], &copy[i], l)))
				return ret;
		} else {
			physaddr_t pa;
			ptent_t *t = alloc_table(dst, &pa);

			if (!t)
				return -ENOMEM;
			copy[i] = pa | (e & ~PTE_ADDR);
			ret = clone_level(dst, table_of(dst, e), t, l - 1, base + i * sz, cb, arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int pt_clone(const struct pt *src, struct pt *dst, pt_clone_cb cb, void *arg)
{
	int ret = pt_init(dst, &src->ops);

	if (ret)
		return ret;
	ret = clone_level(dst, src->root, dst->root, 3, 0, cb, arg);
	if (ret)
		pt_free(dst);
	return ret;
}

static size_t count_level(const struct pt *pt, const ptent_t *table, int l)
{
	size_t n = 1;
	int i;

	if (l == 0)
		return 1;
	for (i = 0; i < NPTENTRIES; i++)
		if ((table[i] & PTE_P) && !(table[i] & PTE_PS))
			n += count_level(pt, table_of(pt, table[i]), l - 1);
	return n;
}

size_t pt_count_tables(const struct pt *pt)
{
	return pt->root ? count_level(pt, pt->root, 3) : 0;
}
