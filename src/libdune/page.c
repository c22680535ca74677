/*
 * page.c - allocator for guest-physical pages owned by libdune (page-table
 * pages and pages handed out by dune_page_alloc()).
 *
 * One contiguous region: [metadata pages][data pages].  The metadata is a
 * struct dune_page per data page, stored in the region itself so that it is
 * mapped in the guest like the pages (no PTE_U) and costs memory only when
 * touched (MAP_NORESERVE).  Never-used pages are handed out in order
 * ("bump"); freed pages go on a LIFO list and are zeroed when reused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "layout.h"
#include "lock.h"
#include "page.h"

extern struct dune_layout dune_layout;

#define NO_PAGE	UINT32_MAX

static struct {
	uint8_t *base;		/* region start (metadata first) */
	physaddr_t base_pa;
	size_t total;		/* pages in the region */
	struct dune_page *meta;
	uint8_t *data;		/* first data page */
	physaddr_t data_pa;
	uint32_t ndata, bump, free_head;
	size_t used;
} R;

static volatile int page_lock_word;

uint8_t *dune_page_base;
physaddr_t dune_page_base_pa;
size_t dune_page_bytes;
volatile uint64_t dune_vm_table_gen;

int dune_page_init_region(void *base, physaddr_t base_pa, size_t npages)
{
	size_t meta_pages;

	if (((uintptr_t)base | base_pa) & (PGSIZE - 1) || npages < 2)
		return -EINVAL;
	/* n data pages need ceil(n * sizeof(struct dune_page) / PGSIZE) metadata pages */
	meta_pages = (npages * sizeof(struct dune_page) + PGSIZE + sizeof(struct dune_page) - 1) /
		     (PGSIZE + sizeof(struct dune_page));
	if (!meta_pages)
		meta_pages = 1;
	if (npages - meta_pages > NO_PAGE - 1)
		return -EINVAL;
	R.base = base;
	R.base_pa = base_pa;
	R.total = npages;
	R.meta = base;
	R.data = (uint8_t *)base + meta_pages * PGSIZE;
	R.data_pa = base_pa + meta_pages * PGSIZE;
	R.ndata = (uint32_t)(npages - meta_pages);
	R.bump = 0;
	R.free_head = NO_PAGE;
	R.used = 0;
	page_lock_word = 0;
	dune_page_base = base;
	dune_page_base_pa = base_pa;
	dune_page_bytes = npages * PGSIZE;
	__atomic_add_fetch(&dune_vm_table_gen, 1, __ATOMIC_RELEASE);
	return 0;
}

int dune_page_init(size_t size)
{
	size_t sz = size + BIG_PGSIZE;
	uint8_t *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return -errno;
	/* 2 MiB alignment lets libdune map the region with 2 MiB pages */
	a = ((uintptr_t)p + BIG_PGSIZE - 1) & ~(BIG_PGSIZE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + sz > a + size)
		munmap((void *)(a + size), (uintptr_t)p + sz - (a + size));
	if (dune_layout_contig(&dune_layout, a, size) != size) {
		munmap((void *)a, size);
		return -ERANGE;
	}
	return dune_page_init_region((void *)a, dune_layout_va_to_pa(&dune_layout, a), size / PGSIZE);
}

void dune_page_region(void **base, size_t *len)
{
	*base = R.base;
	*len = R.total * PGSIZE;
}

void dune_page_lock_reset(void)
{
	page_lock_word = 0;
}

static inline uint32_t index_of(const struct dune_page *pg)
{
	return (uint32_t)(pg - R.meta);
}

struct dune_page *dune_page_alloc(void)
{
	uint64_t fl = dune_spin_lock_irqsave(&page_lock_word);
	struct dune_page *pg = NULL;
	bool recycled = false;

	if (R.free_head != NO_PAGE) {
		pg = &R.meta[R.free_head];
		R.free_head = pg->next;
		recycled = true;
	} else if (R.bump < R.ndata) {
		pg = &R.meta[R.bump++];
	}
	if (pg) {
		pg->ref = 1;
		pg->next = NO_PAGE;
		R.used++;
	}
	dune_spin_unlock_irqrestore(&page_lock_word, fl);
	/* fresh pages are still zero from the anonymous mapping */
	if (recycled)
		memset(dune_page2va(pg), 0, PGSIZE);
	return pg;
}

void dune_page_free(struct dune_page *pg)
{
	uint64_t fl = dune_spin_lock_irqsave(&page_lock_word);

	pg->ref = 0;
	pg->next = R.free_head;
	R.free_head = index_of(pg);
	R.used--;
	dune_spin_unlock_irqrestore(&page_lock_word, fl);
}

void dune_page_get(struct dune_page *pg)
{
	__atomic_add_fetch(&pg->ref, 1, __ATOMIC_RELAXED);
}

bool dune_page_put(struct dune_page *pg)
{
	if (__atomic_sub_fetch(&pg->ref, 1, __ATOMIC_ACQ_REL) == 0) {
		dune_page_free(pg);
		return true;
	}
	return false;
}

physaddr_t dune_page2pa(const struct dune_page *pg)
{
	return R.data_pa + (physaddr_t)index_of(pg) * PGSIZE;
}

void *dune_page2va(const struct dune_page *pg)
{
	return R.data + (size_t)index_of(pg) * PGSIZE;
}

bool dune_page_isfrompool(physaddr_t pa)
{
	return R.data && pa >= R.data_pa && pa - R.data_pa < (physaddr_t)R.ndata * PGSIZE;
}

struct dune_page *dune_pa2page(physaddr_t pa)
{
	if (!dune_page_isfrompool(pa))
		return NULL;
	return &R.meta[(pa - R.data_pa) >> PGSHIFT];
}

void *dune_page_pa2va(physaddr_t pa)
{
	if (!R.base || pa < R.base_pa || pa - R.base_pa >= (physaddr_t)R.total * PGSIZE)
		return NULL;
	return R.base + (pa - R.base_pa);
}

physaddr_t dune_page_va2pa(const void *va)
{
	uintptr_t a = (uintptr_t)va;

	if (!R.base || a < (uintptr_t)R.base || a - (uintptr_t)R.base >= R.total * PGSIZE)
		return DUNE_BAD_PA_VALUE;
	return R.base_pa + (a - (uintptr_t)R.base);
}

size_t dune_page_nr_used(void)
{
	return R.used;
}
