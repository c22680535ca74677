/*
 * Host tests for page.c (allocator) and vm.c (dune_vm_*): page tables built
 * from a heap region with fake guest-physical addresses (vm_fixture.h).
 */
#include <errno.h>
#include "test.h"
#include "vm_fixture.h"

/* ---------------------------------------------------------- page.c */

static void test_page_alloc_free(void)
{
	struct dune_page *a, *b, *c;
	size_t meta;

	fix_setup(64);
	a = dune_page_alloc();
	b = dune_page_alloc();
	CHECK(a && b && a != b);
	CHECK_EQ(a->ref, 1);
	CHECK_EQ(dune_page_nr_used(), 2);
	/* metadata lives at the start of the region, pages after it */
	meta = (dune_page2pa(a) - FIX_REGION_PA) / PGSIZE;
	CHECK(meta >= 1);
	CHECK_EQ(dune_page2pa(b), dune_page2pa(a) + PGSIZE);
	CHECK_EQ((uintptr_t)dune_page2va(a), (uintptr_t)fix_region + meta * PGSIZE);
	CHECK(dune_pa2page(dune_page2pa(b)) == b);
	CHECK(dune_page_isfrompool(dune_page2pa(a)));
	CHECK(!dune_page_isfrompool(FIX_REGION_PA));		/* metadata page */
	CHECK(!dune_page_isfrompool(FIX_REGION_PA + 64 * PGSIZE));
	CHECK(dune_pa2page(0x1000) == NULL);
	CHECK(dune_page_va2pa(dune_page2va(b)) == dune_page2pa(b));
	CHECK(dune_page_pa2va(dune_page2pa(b)) == dune_page2va(b));

	/* a freed page comes back first, zeroed */
	memset(dune_page2va(a), 0xab, PGSIZE);
	dune_page_free(a);
	CHECK_EQ(dune_page_nr_used(), 1);
	c = dune_page_alloc();
	CHECK(c == a);
	CHECK_EQ(((uint8_t *)dune_page2va(c))[100], 0);
	CHECK_EQ(((uint8_t *)dune_page2va(c))[PGSIZE - 1], 0);
}

static void test_page_refcount(void)
{
	struct dune_page *a;

	fix_setup(64);
	a = dune_page_alloc();
	dune_page_get(a);
	CHECK_EQ(a->ref, 2);
	CHECK(!dune_page_put(a));
	CHECK_EQ(dune_page_nr_used(), 1);
	CHECK(dune_page_put(a));
	CHECK_EQ(a->ref, 0);
	CHECK_EQ(dune_page_nr_used(), 0);
}

static void test_page_exhaustion(void)
{
	size_t n = 0;

	fix_setup(16);		/* 1 metadata page + 15 data pages */
	while (dune_page_alloc())
		n++;
	CHECK_EQ(n, 15);
	CHECK_EQ(dune_page_nr_used(), 15);
	CHECK_EQ(dune_page_init_region(fix_region + 1, FIX_REGION_PA, 16), -EINVAL);
}

/* ------------------------------------------------------------ vm.c */

static ptent_t leaf_of(ptent_t *root, uintptr_t va)
{
	ptent_t *e = NULL;

	if (dune_vm_lookup(root, (void *)va, CREATE_NONE, &e))
		return 0;
	return *e;
}

static void test_vm_map_phys_perms(void)
{
	ptent_t *root, *e;
	ptent_t l;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	CHECK(root != NULL);
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, 4 * PGSIZE, 0x9000000, PERM_R), 0);
	l = leaf_of(root, 0x401000);
	CHECK_EQ(PTE_ADDR_OF(l), 0x9001000);
	CHECK(l & PTE_P);
	CHECK(!(l & (PTE_W | PTE_U | PTE_PCD | PTE_COW | PTE_PAGE)));
	CHECK(l & PTE_NX);

	CHECK_EQ(dune_vm_map_phys(root, (void *)0x500000, PGSIZE, 0x9100000,
				  PERM_R | PERM_W | PERM_X | PERM_U | PERM_UC | PERM_USR1 | PERM_USR3), 0);
	l = leaf_of(root, 0x500000);
	CHECK((l & (PTE_P | PTE_W | PTE_U | PTE_PCD | PTE_PWT | PTE_USR1 | PTE_USR3)) ==
	      (PTE_P | PTE_W | PTE_U | PTE_PCD | PTE_PWT | PTE_USR1 | PTE_USR3));
	CHECK(!(l & (PTE_NX | PTE_USR2)));

	CHECK_EQ(dune_vm_map_phys(root, (void *)0x600000, PGSIZE, 0x9200000, PERM_R | PERM_COW), 0);
	CHECK(leaf_of(root, 0x600000) & PTE_COW);

	/* bad arguments */
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, PGSIZE, 0x9000000, PERM_NONE), -EINVAL);
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400800, PGSIZE, 0x9000000, PERM_R), -EINVAL);
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, PGSIZE, 0x9000800, PERM_R), -EINVAL);
	CHECK_EQ(dune_vm_map_phys(root, (void *)VA_USER_LIMIT, PGSIZE, 0x9000000, PERM_R), -EINVAL);
	CHECK_EQ(dune_vm_map_phys((ptent_t *)fix_region + 1, (void *)0x400000, PGSIZE, 0, PERM_R), -EINVAL);

	/* lookup: missing table vs create */
	CHECK_EQ(dune_vm_lookup(root, (void *)0x40000000000ULL, CREATE_NONE, &e), -ENOENT);
	CHECK_EQ(dune_vm_lookup(root, (void *)0x40000000000ULL, CREATE_NORMAL, &e), 0);
	CHECK_EQ(*e, 0);
	dune_vm_free(root);
	CHECK_EQ(dune_page_nr_used(), 0);
}

static void test_vm_big_pages(void)
{
	ptent_t *root, *e;
	ptent_t l;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	/* without PERM_BIG: 4 KiB pages only */
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x40000000, BIG_PGSIZE, 0x80000000, PERM_R | PERM_W), 0);
	CHECK(!(leaf_of(root, 0x40000000) & PTE_PS));
	/* with PERM_BIG: a 2 MiB PDE, replacing the 4 KiB ones */
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x40000000, 2 * BIG_PGSIZE, 0x80000000, PERM_R | PERM_W | PERM_BIG), 0);
	l = leaf_of(root, 0x40234000);
	CHECK(l & PTE_PS);
	CHECK_EQ(l & PTE_BIG_ADDR, 0x80200000);
	/* unaligned pa: no big page possible */
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x80000000, BIG_PGSIZE, 0x80001000, PERM_R | PERM_BIG), 0);
	CHECK(!(leaf_of(root, 0x80000000) & PTE_PS));
	/* lookup with create splits the 2 MiB page into 4 KiB PTEs with the same frames */
	CHECK_EQ(dune_vm_lookup(root, (void *)0x40003000, CREATE_NORMAL, &e), 0);
	CHECK_EQ(PTE_ADDR_OF(*e), 0x80003000);
	CHECK(!(*e & PTE_PS));
	CHECK(*e & PTE_W);
	CHECK(leaf_of(root, 0x40200000 + 5 * PGSIZE) & PTE_PS);	/* second 2M page untouched */
	dune_vm_free(root);
	CHECK_EQ(dune_page_nr_used(), 0);
}

static void test_vm_map_pages_layout(void)
{
	ptent_t *root;
	uintptr_t ident = dune_layout.phys_limit;	/* set below */

	fix_setup(FIX_REGION_PAGES);
	ident = dune_layout.phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;
	root = dune_vm_new();
	CHECK_EQ(dune_vm_map_pages(root, (void *)0x600000, 2 * PGSIZE, PERM_R | PERM_X), 0);
	CHECK_EQ(PTE_ADDR_OF(leaf_of(root, 0x601000)), 0x601000);		/* identity */
	CHECK_EQ(dune_vm_map_pages(root, (void *)(dune_layout.base_map + 0x5000), PGSIZE, PERM_R), 0);
	CHECK_EQ(PTE_ADDR_OF(leaf_of(root, dune_layout.base_map + 0x5000)), ident + 0x5000);
	CHECK_EQ(dune_vm_map_pages(root, (void *)(dune_layout.base_stack + 0x3000), PGSIZE, PERM_R), 0);
	CHECK_EQ(PTE_ADDR_OF(leaf_of(root, dune_layout.base_stack + 0x3000)),
		 dune_layout.phys_limit - GPA_STACK_SIZE + 0x3000);
	/* between the regions: no guest-physical address */
	CHECK_EQ(dune_vm_map_pages(root, (void *)(dune_layout.base_map - PGSIZE), PGSIZE, PERM_R), -EFAULT);
	CHECK(dune_va_to_pa((void *)0x601000) == 0x601000);
	CHECK((uintptr_t)dune_pa_to_va(ident + 0x5000) == dune_layout.base_map + 0x5000);
	CHECK(dune_pa_to_va(dune_layout.phys_limit) == NULL);
	dune_vm_free(root);
}

static void test_vm_insert_lookup_page(void)
{
	struct dune_page *pg, *q, *found = NULL;
	ptent_t *root;
	size_t base;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	base = dune_page_nr_used();
	pg = dune_page_alloc();
	q = dune_page_alloc();
	CHECK_EQ(dune_vm_insert_page(root, (void *)0x700000, pg, PERM_R | PERM_W), 0);
	CHECK_EQ(pg->ref, 2);
	CHECK(leaf_of(root, 0x700000) & PTE_PAGE);
	CHECK_EQ(dune_vm_lookup_page(root, (void *)0x700abc, &found), 0);
	CHECK(found == pg);
	CHECK_EQ(dune_vm_lookup_page(root, (void *)0x701000, &found), -ENOENT);
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x702000, PGSIZE, 0x9000000, PERM_R), 0);
	CHECK_EQ(dune_vm_lookup_page(root, (void *)0x702000, &found), -EINVAL);
	/* replacing the mapping drops the old page's reference */
	CHECK_EQ(dune_vm_insert_page(root, (void *)0x700000, q, PERM_R), 0);
	CHECK_EQ(pg->ref, 1);
	CHECK_EQ(q->ref, 2);
	/* unmapping drops it too */
	CHECK_EQ(dune_vm_unmap(root, (void *)0x700000, PGSIZE), 0);
	CHECK_EQ(q->ref, 1);
	CHECK_EQ(dune_vm_lookup_page(root, (void *)0x700000, &found), -ENOENT);
	dune_page_put(pg);
	dune_page_put(q);
	CHECK_EQ(dune_page_nr_used(), base + 3);	/* PDPT, PD, PT for 0x700000 remain */
	dune_vm_free(root);
	CHECK_EQ(dune_page_nr_used(), 0);
}

/* dune_vm_lookup(CREATE_NONE) remembers the last 4 KiB table it walked
 * through: it must never hand out a table that was freed since. */
static void test_vm_lookup_memo(void)
{
	uint8_t *va = (uint8_t *)0x40000000ULL;
	ptent_t *a, *b, *e1, *e2;

	fix_setup(FIX_REGION_PAGES);
	a = dune_vm_new();
	CHECK(a != NULL);
	CHECK_EQ(dune_vm_map_phys(a, va, 2 * PGSIZE, 0x1000, PERM_R), 0);
	CHECK_EQ(dune_vm_lookup(a, va, CREATE_NONE, &e1), 0);
	CHECK_EQ(PTE_ADDR_OF(*e1), 0x1000);
	CHECK_EQ(dune_vm_lookup(a, va + PGSIZE, CREATE_NONE, &e2), 0);	/* memo hit */
	CHECK_EQ(PTE_ADDR_OF(*e2), 0x2000);
	CHECK(e2 == e1 + 1);
	/* another root: no hit on the other root's table */
	b = dune_vm_new();
	CHECK(b != NULL);
	CHECK_EQ(dune_vm_lookup(b, va, CREATE_NONE, &e2), -ENOENT);
	CHECK_EQ(dune_vm_map_phys(b, va, PGSIZE, 0x5000, PERM_R), 0);
	CHECK_EQ(dune_vm_lookup(b, va, CREATE_NONE, &e2), 0);
	CHECK_EQ(PTE_ADDR_OF(*e2), 0x5000);
	CHECK_EQ(dune_vm_lookup(a, va, CREATE_NONE, &e1), 0);
	CHECK_EQ(PTE_ADDR_OF(*e1), 0x1000);
	/* a freed root whose page comes back as a new root at the same address
	 * (the allocator reuses the last freed page first: the root) */
	dune_vm_free(b);
	e2 = a;
	dune_vm_free(a);
	a = dune_vm_new();
	CHECK(a != NULL);
	CHECK(a == e2);
	CHECK_EQ(dune_vm_lookup(a, va, CREATE_NONE, &e1), -ENOENT);
	CHECK_EQ(dune_vm_map_phys(a, va, PGSIZE, 0x9000, PERM_R), 0);
	CHECK_EQ(dune_vm_lookup(a, va, CREATE_NONE, &e1), 0);
	CHECK_EQ(PTE_ADDR_OF(*e1), 0x9000);
	/* a 2 MiB leaf is never memoised: a split shows through */
	CHECK_EQ(dune_vm_map_phys(a, (void *)0x80000000ULL, BIG_PGSIZE, 0x200000, PERM_R | PERM_BIG), 0);
	CHECK_EQ(dune_vm_lookup(a, (void *)0x80001000ULL, CREATE_NONE, &e1), 0);
	CHECK(*e1 & PTE_PS);
	CHECK_EQ(dune_vm_lookup(a, (void *)0x80001000ULL, CREATE_NORMAL, &e2), 0);
	CHECK_EQ(dune_vm_lookup(a, (void *)0x80001000ULL, CREATE_NONE, &e1), 0);
	CHECK(e1 == e2);
	CHECK(!(*e1 & PTE_PS));
	CHECK_EQ(PTE_ADDR_OF(*e1), 0x201000);
	dune_vm_free(a);
}

static void test_vm_mprotect(void)
{
	ptent_t *root;
	ptent_t l;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, 4 * PGSIZE, 0x9000000, PERM_R | PERM_W | PERM_U), 0);
	CHECK_EQ(dune_vm_mprotect(root, (void *)0x401000, 2 * PGSIZE, PERM_R | PERM_X | PERM_USR2), 0);
	l = leaf_of(root, 0x401000);
	CHECK_EQ(PTE_ADDR_OF(l), 0x9001000);
	CHECK(!(l & (PTE_W | PTE_U | PTE_NX)));
	CHECK(l & PTE_USR2);
	CHECK(leaf_of(root, 0x400000) & PTE_W);
	CHECK(leaf_of(root, 0x403000) & PTE_W);
	/* a 2 MiB page partly protected is split */
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x40000000, BIG_PGSIZE, 0x80000000, PERM_R | PERM_W | PERM_BIG), 0);
	CHECK_EQ(dune_vm_mprotect(root, (void *)0x40001000, PGSIZE, PERM_R), 0);
	CHECK(!(leaf_of(root, 0x40001000) & (PTE_PS | PTE_W)));
	CHECK(leaf_of(root, 0x40002000) & PTE_W);
	CHECK_EQ(PTE_ADDR_OF(leaf_of(root, 0x40002000)), 0x80002000);
	/* PERM_NONE unmaps */
	CHECK_EQ(dune_vm_mprotect(root, (void *)0x400000, PGSIZE, PERM_NONE), 0);
	CHECK(!(leaf_of(root, 0x400000) & PTE_P));
	CHECK_EQ(dune_vm_mprotect(root, (void *)0x400000, PGSIZE, 0x80000), -EINVAL);
	dune_vm_free(root);
}

static void test_vm_set_user(void)
{
	ptent_t *root;
	ptent_t before;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, 3 * PGSIZE, 0x9000000, PERM_R | PERM_W | PERM_USR1), 0);
	before = leaf_of(root, 0x401000);
	CHECK(!(before & PTE_U));
	/* give the middle page (and a hole after the mapping) to ring 3: only PTE_U changes */
	CHECK_EQ(dune_vm_set_user(root, (void *)0x401000, PGSIZE, true), 0);
	CHECK_EQ(leaf_of(root, 0x401000), before | PTE_U);
	CHECK(!(leaf_of(root, 0x400000) & PTE_U));
	CHECK(!(leaf_of(root, 0x402000) & PTE_U));
	CHECK_EQ(dune_vm_set_user(root, (void *)0x402000, 4 * PGSIZE, true), 0);
	CHECK(leaf_of(root, 0x402000) & PTE_U);
	CHECK(!(leaf_of(root, 0x403000) & PTE_P));	/* holes stay holes */
	CHECK_EQ(dune_vm_set_user(root, (void *)0x401000, PGSIZE, false), 0);
	CHECK_EQ(leaf_of(root, 0x401000), before);
	/* part of a 2 MiB page: split, the rest keeps its bits */
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x40000000, BIG_PGSIZE, 0x80000000, PERM_R | PERM_W | PERM_BIG), 0);
	CHECK_EQ(dune_vm_set_user(root, (void *)0x40003000, PGSIZE, true), 0);
	CHECK((leaf_of(root, 0x40003000) & (PTE_U | PTE_W | PTE_PS)) == (PTE_U | PTE_W));
	CHECK(!(leaf_of(root, 0x40004000) & PTE_U));
	CHECK_EQ(PTE_ADDR_OF(leaf_of(root, 0x40003000)), 0x80003000);
	dune_vm_free(root);
}

static void test_vm_unmap(void)
{
	ptent_t *root;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, 8 * PGSIZE, 0x9000000, PERM_R), 0);
	CHECK_EQ(dune_vm_unmap(root, (void *)0x402000, 3 * PGSIZE), 0);
	CHECK(leaf_of(root, 0x401000) & PTE_P);
	CHECK(!(leaf_of(root, 0x402000) & PTE_P));
	CHECK(!(leaf_of(root, 0x404000) & PTE_P));
	CHECK(leaf_of(root, 0x405000) & PTE_P);
	CHECK_EQ(dune_vm_unmap(root, (void *)0x400001, PGSIZE), -EINVAL);
	CHECK_EQ(dune_vm_unmap(root, (void *)0x40000000000ULL, BIG_PGSIZE), 0);	/* nothing there */
	dune_vm_free(root);
}

/* Clone: writable user pages are COW in both tables; the default handler
 * gives the faulting side a private copy, and the last owner reuses the page. */
static void test_vm_clone_cow(void)
{
	struct dune_page *pg, *mine = NULL, *theirs = NULL;
	ptent_t *parent, *child;
	ptent_t lp, lc;
	size_t used;

	fix_setup(FIX_REGION_PAGES);
	parent = dune_vm_new();
	pg = dune_page_alloc();
	memcpy(dune_page2va(pg), "original", 9);
	CHECK_EQ(dune_vm_insert_page(parent, (void *)0x700000, pg, PERM_R | PERM_W | PERM_U), 0);
	dune_page_put(pg);	/* the PTE owns it now */
	CHECK_EQ(dune_vm_map_phys(parent, (void *)0x800000, PGSIZE, dune_page2pa(pg), PERM_R | PERM_W), 0);	/* kernel-only alias */
	CHECK_EQ(dune_vm_map_phys(parent, (void *)0x900000, PGSIZE, 0x9000000, PERM_R | PERM_U), 0);		/* read-only user */
	used = dune_page_nr_used();

	child = dune_vm_clone(parent);
	CHECK(child != NULL && child != parent);
	CHECK_EQ(pg->ref, 2);
	lp = leaf_of(parent, 0x700000);
	lc = leaf_of(child, 0x700000);
	CHECK_EQ(lp, lc);
	CHECK((lp & (PTE_W | PTE_COW)) == PTE_COW);
	CHECK(leaf_of(parent, 0x800000) & PTE_W);		/* no PTE_U: stays shared writable */
	CHECK(!(leaf_of(child, 0x800000) & PTE_COW));
	CHECK(!(leaf_of(child, 0x900000) & PTE_COW));		/* was not writable */

	/* a read fault or a non-COW page is not the handler's business */
	pgroot = child;
	CHECK_EQ(dune_vm_default_pgflt_handler(0x700000, FEC_P), -EFAULT);
	CHECK_EQ(dune_vm_default_pgflt_handler(0x900000, FEC_P | FEC_W), -EFAULT);
	CHECK_EQ(dune_vm_default_pgflt_handler(0xa00000, FEC_W), -EFAULT);

	/* child writes: gets a private copy, the parent keeps the original */
	CHECK_EQ(dune_vm_default_pgflt_handler(0x700010, FEC_P | FEC_W), 0);
	lc = leaf_of(child, 0x700000);
	CHECK((lc & (PTE_W | PTE_COW | PTE_PAGE | PTE_U)) == (PTE_W | PTE_PAGE | PTE_U));
	CHECK(PTE_ADDR_OF(lc) != dune_page2pa(pg));
	CHECK_EQ(dune_vm_lookup_page(child, (void *)0x700000, &mine), 0);
	CHECK(mine && mine->ref == 1);
	CHECK(mine && strcmp(dune_page2va(mine), "original") == 0);
	if (mine)
		memcpy(dune_page2va(mine), "child", 6);
	CHECK_EQ(pg->ref, 1);
	CHECK(leaf_of(parent, 0x700000) & PTE_COW);
	CHECK_EQ(strcmp(dune_page2va(pg), "original"), 0);

	/* parent writes: it is the last owner, so the page is reused in place */
	pgroot = parent;
	CHECK_EQ(dune_vm_default_pgflt_handler(0x700000, FEC_P | FEC_W), 0);
	lp = leaf_of(parent, 0x700000);
	CHECK_EQ(PTE_ADDR_OF(lp), dune_page2pa(pg));
	CHECK((lp & (PTE_W | PTE_COW)) == PTE_W);
	CHECK_EQ(dune_vm_lookup_page(parent, (void *)0x700000, &theirs), 0);
	CHECK(theirs == pg);
	CHECK_EQ(strcmp(dune_page2va(pg), "original"), 0);
	/* a second fault on a now-writable page is not COW */
	CHECK_EQ(dune_vm_default_pgflt_handler(0x700000, FEC_P | FEC_W), -EFAULT);

	dune_vm_free(child);
	CHECK_EQ(dune_page_nr_used(), used);	/* child's tables and its copy are gone */
	dune_vm_free(parent);
	CHECK_EQ(dune_page_nr_used(), 0);
}

/* COW of memory libdune does not own is always a copy; 2 MiB COW pages are split on the faulting side only. */
static void test_vm_cow_foreign_and_big(void)
{
	ptent_t *parent, *child;
	struct dune_page *src, *copy = NULL;
	physaddr_t pa;
	ptent_t l;

	fix_setup(FIX_REGION_PAGES);
	parent = dune_vm_new();
	src = dune_page_alloc();	/* only used as dereferenceable "foreign" memory */
	strcpy(dune_page2va(src), "foreign");
	pa = dune_page2pa(src);
	CHECK_EQ(dune_vm_map_phys(parent, (void *)0x400000, PGSIZE, pa, PERM_R | PERM_W | PERM_U), 0);
	CHECK_EQ(dune_vm_map_phys(parent, (void *)0x40000000, BIG_PGSIZE, 0x80000000,
				  PERM_R | PERM_W | PERM_U | PERM_BIG), 0);
	child = dune_vm_clone(parent);
	CHECK(leaf_of(child, 0x40000000) & PTE_PS);
	CHECK(leaf_of(child, 0x40000000) & PTE_COW);
	CHECK_EQ(src->ref, 1);			/* no PTE_PAGE: no references taken */

	CHECK_EQ(dune_vm_cow_fault(parent, 0x400000), 0);	/* even the "last" user copies */
	CHECK(PTE_ADDR_OF(leaf_of(parent, 0x400000)) != pa);
	CHECK_EQ(dune_vm_lookup_page(parent, (void *)0x400000, &copy), 0);
	CHECK(copy && strcmp(dune_page2va(copy), "foreign") == 0);
	CHECK(leaf_of(child, 0x400000) & PTE_COW);

	/* big page: resolve in the child, which splits it there */
	CHECK_EQ(dune_vm_map_phys(parent, (void *)0x500000, PGSIZE, pa, PERM_R), 0);	/* keep parent busy */
	{
		/* the 2 MiB frame is not dereferenceable in this test; point it at the region first */
		ptent_t *e;

		CHECK_EQ(dune_vm_lookup(child, (void *)0x40000000, CREATE_NONE, &e), 0);
		*e = (*e & ~PTE_BIG_ADDR) | (FIX_REGION_PA & PTE_BIG_ADDR);
	}
	CHECK_EQ(dune_vm_cow_fault(child, 0x40005000), 0);
	l = leaf_of(child, 0x40005000);
	CHECK(!(l & PTE_PS));
	CHECK((l & (PTE_W | PTE_COW | PTE_PAGE)) == (PTE_W | PTE_PAGE));
	CHECK(leaf_of(child, 0x40006000) & PTE_COW);		/* the rest stays COW */
	CHECK(leaf_of(parent, 0x40000000) & PTE_PS);		/* parent untouched */
	dune_vm_free(child);
	dune_vm_free(parent);
	dune_page_put(src);
	CHECK_EQ(dune_page_nr_used(), 0);
}

struct dirty_log {
	uintptr_t va[64];
	int n;
	int clear;
};

static int collect_dirty(const void *arg, ptent_t *pte, void *va)
{
	struct dirty_log *log = (struct dirty_log *)arg;

	if (*pte & PTE_D) {
		if (log->n < 64)
			log->va[log->n++] = (uintptr_t)va;
		if (log->clear)
			*pte &= ~PTE_D;
	}
	return 0;
}

static int stop_at_second(const void *arg, ptent_t *pte, void *va)
{
	int *seen = (int *)arg;

	(void)pte;
	(void)va;
	return ++*seen == 2 ? 42 : 0;
}

static void test_vm_page_walk_dirty(void)
{
	struct dirty_log log;
	ptent_t *root, *e;
	int seen = 0;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x400000, 16 * PGSIZE, 0x9000000, PERM_R | PERM_W), 0);
	/* "write" three pages: the CPU would set D */
	CHECK_EQ(dune_vm_lookup(root, (void *)0x403000, CREATE_NONE, &e), 0);
	*e |= PTE_D | PTE_A;
	CHECK_EQ(dune_vm_lookup(root, (void *)0x407000, CREATE_NONE, &e), 0);
	*e |= PTE_D;
	CHECK_EQ(dune_vm_lookup(root, (void *)0x40f000, CREATE_NONE, &e), 0);
	*e |= PTE_D;

	memset(&log, 0, sizeof(log));
	log.clear = 1;
	CHECK_EQ(dune_vm_page_walk(root, (void *)0x400000, (void *)0x410000, collect_dirty, &log), 0);
	CHECK_EQ(log.n, 3);
	CHECK_EQ(log.va[0], 0x403000);
	CHECK_EQ(log.va[1], 0x407000);
	CHECK_EQ(log.va[2], 0x40f000);
	CHECK(leaf_of(root, 0x403000) & PTE_A);		/* only D was cleared */

	/* after clearing, only new writes show up; the range end is exclusive */
	CHECK_EQ(dune_vm_lookup(root, (void *)0x405000, CREATE_NONE, &e), 0);
	*e |= PTE_D;
	memset(&log, 0, sizeof(log));
	CHECK_EQ(dune_vm_page_walk(root, (void *)0x400000, (void *)0x405000, collect_dirty, &log), 0);
	CHECK_EQ(log.n, 0);
	CHECK_EQ(dune_vm_page_walk(root, (void *)0x400000, (void *)0x410000, collect_dirty, &log), 0);
	CHECK_EQ(log.n, 1);
	CHECK_EQ(log.va[0], 0x405000);

	/* early stop */
	CHECK_EQ(dune_vm_page_walk(root, (void *)0, (void *)VA_USER_LIMIT, stop_at_second, &seen), 42);
	CHECK_EQ(seen, 2);
	dune_vm_free(root);
}

static void test_vm_no_leak(void)
{
	ptent_t *root;
	int i;

	fix_setup(FIX_REGION_PAGES);
	root = dune_vm_new();
	for (i = 0; i < 20; i++) {
		struct dune_page *pg = dune_page_alloc();
		uintptr_t va = 0x10000000ULL * (i + 1) + i * PGSIZE;

		CHECK_EQ(dune_vm_insert_page(root, (void *)va, pg, PERM_R | PERM_W | PERM_U), 0);
		dune_page_put(pg);
	}
	CHECK_EQ(dune_vm_map_phys(root, (void *)0x7f0000000000ULL, 4 * BIG_PGSIZE, 0x80000000, PERM_R | PERM_BIG), 0);
	CHECK_EQ(dune_vm_unmap(root, (void *)0, VA_USER_LIMIT), 0);
	CHECK(dune_page_nr_used() > 1);		/* only table pages are left */
	dune_vm_free(root);
	CHECK_EQ(dune_page_nr_used(), 0);
}

const struct test_case vm_tests[] = {
	{ "page: alloc/free, pa<->page, zeroed on reuse", test_page_alloc_free },
	{ "page: get/put", test_page_refcount },
	{ "page: exhaustion and bad region", test_page_exhaustion },
	{ "vm: map_phys permissions, lookup", test_vm_map_phys_perms },
	{ "vm: PERM_BIG 2M pages, split on lookup", test_vm_big_pages },
	{ "vm: map_pages follows the layout", test_vm_map_pages_layout },
	{ "vm: insert_page/lookup_page references", test_vm_insert_lookup_page },
	{ "vm: lookup memo never outlives a freed table", test_vm_lookup_memo },
	{ "vm: mprotect", test_vm_mprotect },
	{ "vm: set_user gives and takes PTE_U only", test_vm_set_user },
	{ "vm: unmap", test_vm_unmap },
	{ "vm: clone with COW + default pgflt handler", test_vm_clone_cow },
	{ "vm: COW of foreign and 2M pages", test_vm_cow_foreign_and_big },
	{ "vm: page walk reports and clears dirty bits", test_vm_page_walk_dirty },
	{ "vm: unmap everything + free leaks nothing", test_vm_no_leak },
	TEST_LIST_END
};
