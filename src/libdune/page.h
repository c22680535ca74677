/*
 * page.h - libdune-internal side of the page allocator (page.c).  The public
 * API (dune_page_alloc, ...) is in dune.h.
 */
#ifndef LIBDUNE_PAGE_H
#define LIBDUNE_PAGE_H

#include <stddef.h>
#include "dune.h"

#pragma GCC visibility push(hidden)

/*
 * Use [base, base + npages * PGSIZE) as the page region; its first page has
 * guest-physical address base_pa (both 4 KiB aligned).  The region must read
 * as zeroes (fresh anonymous memory): pages are zeroed only when recycled.
 * Part of it holds the allocator's metadata.  Replaces any previous region
 * (the host tests call it repeatedly).  0 or -EINVAL.
 */
int dune_page_init_region(void *base, physaddr_t base_pa, size_t npages);

/*
 * Reserve a MAP_NORESERVE region of `size` bytes (2 MiB aligned) whose
 * guest-physical addresses follow the layout (dune_layout must be set) and
 * use it.  0 or -errno.
 */
int dune_page_init(size_t size);

/* The whole region (metadata included), e.g. to map it in the guest. */
void dune_page_region(void **base, size_t *len);

/* Pointer to guest-physical address pa if it lies in the region, else NULL. */
void *dune_page_pa2va(physaddr_t pa);

/* The region's bounds, for the inline translation below (set by dune_page_init_region). */
extern uint8_t *dune_page_base;
extern physaddr_t dune_page_base_pa;
extern size_t dune_page_bytes;
/* Bumped when table pages may have been freed or the region reset (vm.c's lookup memo). */
extern volatile uint64_t dune_vm_table_gen;

/* dune_page_pa2va() without a call: the hot page-table walks (#PF handlers' dune_vm_lookup). */
static inline void *dune_page_pa2va_inline(physaddr_t pa)
{
	return pa - dune_page_base_pa < dune_page_bytes ? dune_page_base + (pa - dune_page_base_pa) : NULL;
}

/* Guest-physical address of a pointer into the region, else DUNE_BAD_PA_VALUE. */
physaddr_t dune_page_va2pa(const void *va);

/* The fork child: the lock may have been held by another thread. */
void dune_page_lock_reset(void);

#pragma GCC visibility pop

#endif /* LIBDUNE_PAGE_H */
