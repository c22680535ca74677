/*
 * vm.c - the dune_vm_* API: page tables rooted at any ptent_t * whose pages
 * come from the page allocator (page.c), built on the pure pt.c.  Also owns
 * the page-table lock shared with the host loop's mirroring (host.c).
 *
 * Page references: a leaf with PTE_PAGE holds one reference to the
 * dune_page it maps (dune_vm_insert_page, COW copies, clones).  Unmapping,
 * replacing or freeing such a leaf drops it.  Other leaves (map_phys,
 * map_pages) map memory libdune does not own and carry no reference.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "lock.h"
#include "page.h"

ptent_t *pgroot;

static volatile int pt_lock_word;

uint64_t dune_pt_lock(void)
{
	return dune_spin_lock_irqsave(&pt_lock_word);
}

void dune_pt_unlock(uint64_t flags)
{
	dune_spin_unlock_irqrestore(&pt_lock_word, flags);
}

void dune_pt_lock_reset(void)
{
	pt_lock_word = 0;
}

/* ------------------------------------------------ pt.c allocator hooks */

static void *vm_alloc_table(void *arg, physaddr_t *pa)
{
	struct dune_page *pg = dune_page_alloc();

	(void)arg;
	if (!pg)
		return NULL;
	*pa = dune_page2pa(pg);
	return dune_page2va(pg);
}

static void *vm_table_va(void *arg, physaddr_t pa)
{
	(void)arg;
	return dune_page_pa2va(pa);
}

/*
 * dune_vm_table_gen (page.h) is bumped whenever a table page is freed
 * (dune_vm_free, a failed clone) and when the page region is (re)set up:
 * the only ways a table a PDE pointed to can stop being that PDE's table
 * (unmap and protect keep tables, a 2 MiB mapping over a table reuses it, a
 * split turns a leaf into a new table).  It validates the lookup memo below.
 */
#define table_gen dune_vm_table_gen

static void vm_free_table(void *arg, void *page, physaddr_t pa)
{
	(void)arg;
	(void)page;
	__atomic_add_fetch(&table_gen, 1, __ATOMIC_RELEASE);
	dune_page_put(dune_pa2page(pa));
}

const struct pt_ops dune_vm_ops = { vm_alloc_table, vm_table_va, NULL, vm_free_table };

/* A struct pt view of a root (its page must come from the allocator). */
static int pt_of(struct pt *pt, ptent_t *root)
{
	physaddr_t pa = root ? dune_page_va2pa(root) : DUNE_BAD_PA_VALUE;

	if (pa == DUNE_BAD_PA_VALUE || (pa & (PGSIZE - 1)))
		return -EINVAL;
	pt->root = root;
	pt->root_pa = pa;
	pt->ops = dune_vm_ops;
	return 0;
}

/* Dereferenceable address of a data frame: the page region, else the layout. */
static void *frame_va(physaddr_t pa)
{
	void *p = dune_page_pa2va(pa);

	return p ? p : dune_pa_to_va(pa);
}

/* -------------------------------------------------------- permissions */

#define PERM_RWX	(PERM_R | PERM_W | PERM_X)
/* leaf bits a perm value decides (mprotect replaces exactly these) */
#define PERM_PTE_MASK	(PTE_W | PTE_U | PTE_NX | PTE_PWT | PTE_PCD | PTE_COW | \
			 PTE_USR1 | PTE_USR2 | PTE_USR3)

static uint64_t perm_to_pte(int perm)
{
	uint64_t f = PTE_P;

	if (perm & PERM_W)
		f |= PTE_W;
	if (!(perm & PERM_X))
		f |= PTE_NX;
	if (perm & PERM_U)
		f |= PTE_U;
	if (perm & PERM_UC)
		f |= PTE_PCD | PTE_PWT;
	if (perm & PERM_COW)
		f |= PTE_COW;
	if (perm & PERM_USR1)
		f |= PTE_USR1;
	if (perm & PERM_USR2)
		f |= PTE_USR2;
	if (perm & PERM_USR3)
		f |= PTE_USR3;
	return f;
}

static int check_perm(int perm)
{
	if (!(perm & PERM_RWX) || (perm & ~PERM_ALL))
		return -EINVAL;
	return 0;
}

/* ---------------------------------------------------- reference drops */

static int put_leaf_cb(void *arg, uint64_t va, ptent_t *leaf, int level)
{
	(void)arg;
	(void)va;
	(void)level;
	if (*leaf & PTE_PAGE)
		dune_page_put(dune_pa2page(PTE_ADDR_OF(*leaf)));
	return 0;
}

/* Unmap [va, va+len), dropping page references.  Lock held. */
static int unmap_locked(struct pt *pt, uint64_t va, uint64_t len)
{
	if ((va | len) & (PGSIZE - 1) || va >= VA_USER_LIMIT || len > VA_USER_LIMIT - va)
		return -EINVAL;
	pt_walk(pt, va, va + len, put_leaf_cb, NULL);
	return pt_unmap(pt, va, len);
}

/* ----------------------------------------------------------- the API */

/*
 * CREATE_NONE lookup, the hot call of page-fault handlers: a read-only walk
 * without the lock.  Each entry is read once with one 64-bit load, and a
 * table page is never freed while its root lives (unmap keeps tables; a
 * split publishes the filled table with one store), so a concurrent change
 * shows either the old entry or the new one, both consistent.
 */
/* t = the table entry v points to; table pages always come from the
 * allocator, so anything else is a corrupt entry: -ENOENT */
#define NEXT_TABLE(v, t)							\
	do {									\
		physaddr_t off_ = PTE_ADDR_OF(v) - dune_page_base_pa;		\
									\
		if (off_ >= dune_page_bytes)					\
			return -ENOENT;						\
		(t) = (ptent_t *)(dune_page_base + off_);			\
	} while (0)

/*
 * Per-thread memo of the last 4 KiB page table a CREATE_NONE lookup went
 * through (root, 2 MiB-aligned va, table): a page-fault handler looks up
 * neighbouring pages again and again (Appel's PROT1 handler: the faulting
 * page and its partner).  Valid while no table page was freed since
 * (table_gen).  A hit costs a few loads instead of the 4-level walk.
 */
static __thread struct {
	ptent_t *root;
	uint64_t va_2m;		/* va >> 21 */
	ptent_t *table;
	uint64_t gen;
} lookup_memo __attribute__((tls_model("initial-exec")));

static int __attribute__((noinline)) lookup_nolock(ptent_t *root, uintptr_t va, ptent_t **pte_out)
{
	ptent_t *t, *e;
	ptent_t v;

	if (lookup_memo.root == root && lookup_memo.va_2m == (va >> BIG_PGSHIFT) &&
	    lookup_memo.gen == __atomic_load_n(&table_gen, __ATOMIC_ACQUIRE)) {
		*pte_out = &lookup_memo.table[PDX(0, va)];
		return 0;
	}
	if ((uintptr_t)root - (uintptr_t)dune_page_base >= dune_page_bytes || ((uintptr_t)root & (PGSIZE - 1)))
		return -EINVAL;
	if (va >= VA_USER_LIMIT)
		return -ENOENT;
	/* PML4E (PS is reserved there, and pt_lookup returns it as is), PDPTE, PDE, PTE */
	e = &root[PDX(3, va)];
	v = __atomic_load_n(e, __ATOMIC_RELAXED);
	if (!(v & PTE_P))
		return -ENOENT;
	if (!(v & PTE_PS)) {
		NEXT_TABLE(v, t);
		e = &t[PDX(2, va)];
		v = __atomic_load_n(e, __ATOMIC_RELAXED);
		if (!(v & PTE_P))
			return -ENOENT;
		if (!(v & PTE_PS)) {
			NEXT_TABLE(v, t);
			e = &t[PDX(1, va)];
			v = __atomic_load_n(e, __ATOMIC_RELAXED);
			if (!(v & PTE_P))
				return -ENOENT;
			if (!(v & PTE_PS)) {
				uint64_t gen = __atomic_load_n(&table_gen, __ATOMIC_ACQUIRE);

				NEXT_TABLE(v, t);
				e = &t[PDX(0, va)];
				lookup_memo.root = root;
				lookup_memo.va_2m = va >> BIG_PGSHIFT;
				lookup_memo.table = t;
				lookup_memo.gen = gen;
			}
		}
	}
	*pte_out = e;
	return 0;
}

static int __attribute__((noinline)) lookup_create(ptent_t *root, void *va, int create, ptent_t **pte_out)
{
	struct pt pt;
	uint64_t fl;
	ptent_t *e;

	if (pt_of(&pt, root))
		return -EINVAL;
	fl = dune_pt_lock();
	e = pt_lookup(&pt, (uintptr_t)va, create, NULL);
	dune_pt_unlock(fl);
	if (!e)
		return create && (uintptr_t)va < VA_USER_LIMIT ? -ENOMEM : -ENOENT;
	*pte_out = e;
	return 0;
}

int dune_vm_lookup(ptent_t *root, void *va, int create, ptent_t **pte_out)
{
	if (!create)
		return lookup_nolock(root, (uintptr_t)va, pte_out);
	return lookup_create(root, va, create, pte_out);
}

int dune_vm_map_phys(ptent_t *root, void *va, size_t len, uint64_t pa, int perm)
{
	uint64_t flags = perm_to_pte(perm) | (perm & PERM_BIG ? 0 : PT_MAP_NOBIG);
	struct pt pt;
	uint64_t fl;
	int ret;

	if (pt_of(&pt, root) || check_perm(perm) || (pa & (PGSIZE - 1)))
		return -EINVAL;
	fl = dune_pt_lock();
	ret = unmap_locked(&pt, (uintptr_t)va, len);
	if (!ret)
		ret = pt_map(&pt, (uintptr_t)va, len, pa, flags);
	dune_pt_unlock(fl);
	return ret;
}

int dune_vm_map_pages(ptent_t *root, void *va, size_t len, int perm)
{
	uintptr_t a = (uintptr_t)va, end = a + len;
	int ret = 0;

	if ((a | len) & (PGSIZE - 1) || end < a)
		return -EINVAL;
	while (a < end && !ret) {
		uint64_t n = dune_layout_contig(&dune_layout, a, end - a);

		if (!n)
			return -EFAULT;
		ret = dune_vm_map_phys(root, (void *)a, n, dune_layout_va_to_pa(&dune_layout, a), perm);
		a += n;
	}
	return ret;
}

int dune_vm_insert_page(ptent_t *root, void *va, struct dune_page *pg, int perm)
{
	struct pt pt;
	uint64_t fl;
	ptent_t *e;
	int ret;

	if (pt_of(&pt, root) || check_perm(perm) || !pg || ((uintptr_t)va & (PGSIZE - 1)))
		return -EINVAL;
	fl = dune_pt_lock();
	ret = unmap_locked(&pt, (uintptr_t)va, PGSIZE);
	e = ret ? NULL : pt_lookup(&pt, (uintptr_t)va, 1, NULL);
	if (e) {
		dune_page_get(pg);
		*e = dune_page2pa(pg) | perm_to_pte(perm) | PTE_PAGE;
	} else if (!ret) {
		ret = -ENOMEM;
	}
	dune_pt_unlock(fl);
	return ret;
}

int dune_vm_lookup_page(ptent_t *root, void *va, struct dune_page **pg_out)
{
	struct pt pt;
	physaddr_t pa;
	int ret;

	if (pt_of(&pt, root))
		return -EINVAL;
	{
		uint64_t fl = dune_pt_lock();

		ret = pt_translate(&pt, (uintptr_t)va, &pa, NULL);
		dune_pt_unlock(fl);
	}
	if (ret)
		return -ENOENT;
	*pg_out = dune_pa2page(pa & ~(PGSIZE - 1));
	return *pg_out ? 0 : -EINVAL;
}

/* Replace the `mask` bits of the present leaves in [va, va+len) with `bits`, under the lock. */
static int protect_mask(ptent_t *root, void *va, size_t len, uint64_t mask, uint64_t bits)
{
	struct pt pt;
	uint64_t fl;
	int ret;

	if (pt_of(&pt, root))
		return -EINVAL;
	fl = dune_pt_lock();
	ret = pt_protect_mask(&pt, (uintptr_t)va, len, mask, bits);
	dune_pt_unlock(fl);
	return ret;
}

int dune_vm_mprotect(ptent_t *root, void *va, size_t len, int perm)
{
	if (perm & ~PERM_ALL)
		return -EINVAL;
	if (!(perm & PERM_RWX))
		return dune_vm_unmap(root, va, len);
	return protect_mask(root, va, len, PERM_PTE_MASK, perm_to_pte(perm));
}

int dune_vm_set_user(ptent_t *root, void *va, size_t len, bool user)
{
	return protect_mask(root, va, len, PTE_U, user ? PTE_U : 0);
}

int dune_vm_unmap(ptent_t *root, void *va, size_t len)
{
	struct pt pt;
	uint64_t fl;
	int ret;

	if (pt_of(&pt, root))
		return -EINVAL;
	fl = dune_pt_lock();
	ret = unmap_locked(&pt, (uintptr_t)va, len);
	dune_pt_unlock(fl);
	return ret;
}

/* Writable user leaves become read-only + COW in both tables; pages get a reference. */
static int clone_leaf_cb(void *arg, uint64_t va, ptent_t *src, ptent_t *dst, int level)
{
	(void)arg;
	(void)va;
	(void)level;
	if (*src & PTE_PAGE)
		dune_page_get(dune_pa2page(PTE_ADDR_OF(*src)));
	if ((*src & (PTE_W | PTE_U)) == (PTE_W | PTE_U)) {
		*src = (*src & ~PTE_W) | PTE_COW;
		*dst = *src;
	}
	return 0;
}

ptent_t *dune_vm_new(void)
{
	struct pt pt;

	return pt_init(&pt, &dune_vm_ops) ? NULL : pt.root;
}

ptent_t *dune_vm_clone(ptent_t *root)
{
	struct pt src, dst;
	uint64_t fl;
	int ret;

	if (pt_of(&src, root))
		return NULL;
	fl = dune_pt_lock();
	ret = pt_clone(&src, &dst, clone_leaf_cb, NULL);
	dune_pt_unlock(fl);
	return ret ? NULL : dst.root;
}

void dune_vm_free(ptent_t *root)
{
	struct pt pt;
	uint64_t fl;

	if (pt_of(&pt, root))
		return;
	fl = dune_pt_lock();
	pt_walk(&pt, 0, VA_USER_LIMIT, put_leaf_cb, NULL);
	pt_free(&pt);
	dune_pt_unlock(fl);
}

struct walk_arg {
	dune_page_walk_cb cb;
	const void *arg;
};

static int walk_cb(void *p, uint64_t va, ptent_t *leaf, int level)
{
	struct walk_arg *w = p;

	(void)level;
	return w->cb(w->arg, leaf, (void *)(uintptr_t)va);
}

int dune_vm_page_walk(ptent_t *root, void *start, void *end, dune_page_walk_cb cb, const void *arg)
{
	struct walk_arg w = { cb, arg };
	struct pt pt;
	uint64_t fl;
	int ret;

	if (pt_of(&pt, root) || !cb)
		return -EINVAL;
	fl = dune_pt_lock();
	ret = pt_walk(&pt, (uintptr_t)start, (uintptr_t)end, walk_cb, &w);
	dune_pt_unlock(fl);
	return ret;
}

/* Resolve a write fault on a COW page of root.  Lock held. */
static int cow_fault_locked(struct pt *pt, uintptr_t addr)
{
	ptent_t *e = pt_lookup(pt, addr, 0, NULL);
	struct dune_page *old, *pg;
	ptent_t v;

	if (!e || !(*e & PTE_P) || !(*e & PTE_COW))
		return -EFAULT;
	if (*e & PTE_PS) {
		/* work on the 4 KiB page only: split, every piece stays COW */
		e = pt_lookup(pt, addr, 1, NULL);
		if (!e)
			return -ENOMEM;
	}
	v = *e;
	old = (v & PTE_PAGE) ? dune_pa2page(PTE_ADDR_OF(v)) : NULL;
	if (old && __atomic_load_n(&old->ref, __ATOMIC_ACQUIRE) == 1) {
		/* sole owner: nobody else can see a write, just reuse it */
		*e = (v & ~PTE_COW) | PTE_W;
		return 0;
	}
	pg = dune_page_alloc();
	if (!pg)
		return -ENOMEM;
	memcpy(dune_page2va(pg), frame_va(PTE_ADDR_OF(v)), PGSIZE);
	*e = dune_page2pa(pg) | (PTE_FLAGS(v) & ~(PTE_COW | PTE_D | PTE_A)) | PTE_W | PTE_PAGE;
	if (old)
		dune_page_put(old);
	return 0;
}

int dune_vm_cow_fault(ptent_t *root, uintptr_t addr)
{
	struct pt pt;
	uint64_t fl;
	int ret;

	if (pt_of(&pt, root))
		return -EINVAL;
	fl = dune_pt_lock();
	ret = cow_fault_locked(&pt, addr & ~(PGSIZE - 1));
	dune_pt_unlock(fl);
	if (!ret && dune_in_guest())
		dune_flush_tlb_one(addr);
	return ret;
}

int dune_vm_default_pgflt_handler(uintptr_t addr, uint64_t fec)
{
	ptent_t *root = pgroot;

	/* only a write to a present page can be a COW fault */
	if ((fec & (FEC_P | FEC_W)) != (FEC_P | FEC_W))
		return -EFAULT;
	if (dune_in_guest()) {
		/* the faulting side is whatever table is loaded */
		root = dune_page_pa2va(read_cr3() & PTE_ADDR);
		if (!root)
			return -EFAULT;
	}
	return dune_vm_cow_fault(root, addr);
}
