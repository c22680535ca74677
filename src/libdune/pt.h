/*
 * pt.h - 4-level x86-64 page-table builder over ordinary memory.
 *
 * This module knows nothing about VMX, /dev/dune or the Dune layout: the
 * caller supplies a page allocator (returning a zeroed 4 KiB page and its
 * "physical" address as it must appear in page-table entries) and the
 * reverse translation from such a physical address to a pointer the
 * caller can dereference.  libdune plugs in its guest-physical allocator;
 * the host unit tests (tests/host) plug in malloc'd memory.
 *
 * No function here locks or flushes TLBs; that is the caller's job.
 */
#ifndef LIBDUNE_PT_H
#define LIBDUNE_PT_H

#include <stddef.h>
#include <stdint.h>
#include "mmu.h"

/* Internal to libdune.so (the host unit tests link the source directly). */
#pragma GCC visibility push(hidden)

struct pt_ops {
	/* Return a zeroed, 4 KiB-aligned page and store its physical address. NULL on OOM. */
	void *(*alloc_page)(void *arg, physaddr_t *pa);
	/* Pointer through which the page-table page at physical address pa can be accessed. */
	void *(*pa_to_va)(void *arg, physaddr_t pa);
	void *arg;
	/* Give back a page from alloc_page (only pt_free/pt_clone's error path use it; may be NULL otherwise). */
	void (*free_page)(void *arg, void *page, physaddr_t pa);
};

struct pt {
	ptent_t *root;		/* PML4, dereferenceable */
	physaddr_t root_pa;	/* value for CR3 */
	struct pt_ops ops;
};

/* Leaf levels reported by pt_lookup / pt_walk. */
#define PT_LEVEL_4K	0
#define PT_LEVEL_2M	1

/* pt_map flags (in addition to PTE_* leaf bits). */
#define PT_MAP_NOBIG	(1ULL << 52)	/* never use 2 MiB pages (software bit, stripped) */

int pt_init(struct pt *pt, const struct pt_ops *ops);

/*
 * Map [va, va+len) to [pa, pa+len) with leaf bits `flags` (PTE_P is implied;
 * PTE_W, PTE_U, PTE_NX, PTE_G, PTE_PCD... are copied).  va, pa and len must be
 * 4 KiB aligned and va+len <= VA_USER_LIMIT.  2 MiB pages are used wherever
 * va and pa are both 2 MiB aligned and a whole 2 MiB chunk is covered, unless
 * PT_MAP_NOBIG is given.  Existing mappings in the range are replaced (2 MiB
 * pages partially covered are split first).  Returns 0 or -ENOMEM/-EINVAL.
 */
int pt_map(struct pt *pt, uint64_t va, uint64_t len, physaddr_t pa, uint64_t flags);

/* Remove all mappings in [va, va+len) (splitting 2 MiB pages as needed).
 * Intermediate tables are kept.  Returns 0 or -ENOMEM (split failed). */
int pt_unmap(struct pt *pt, uint64_t va, uint64_t len);

/* For every present leaf in [va, va+len), replace the W/U/NX bits with those
 * in `flags` (other bits and the frame are kept).  Returns 0 or -ENOMEM. */
int pt_protect(struct pt *pt, uint64_t va, uint64_t len, uint64_t flags);

/* Same, replacing the bits in `mask` (PTE_P, PTE_PS and the frame are never changed). */
int pt_protect_mask(struct pt *pt, uint64_t va, uint64_t len, uint64_t mask, uint64_t flags);

/*
 * Find the leaf entry for va.  Without `create`, returns the 4 KiB PTE or the
 * 2 MiB PDE that maps va (whether present or not), or NULL if an intermediate
 * table is missing; *level (if non-NULL) says which.  With `create`, missing
 * tables are allocated and a 2 MiB page covering va is split, so the result
 * is always a 4 KiB PTE (level PT_LEVEL_4K); NULL only on OOM.
 */
ptent_t *pt_lookup(struct pt *pt, uint64_t va, int create, int *level);

/* Translate va; returns 0 and the physical address (and leaf entry) or -ENOENT. */
int pt_translate(const struct pt *pt, uint64_t va, physaddr_t *pa, ptent_t *leaf);

/* Split the 2 MiB page containing va (if any) into 512 4 KiB PTEs. 0 or -ENOMEM. */
int pt_split_big(struct pt *pt, uint64_t va);

/* Call cb for each present leaf intersecting [start, end); stop early if cb returns non-zero. */
typedef int (*pt_walk_cb)(void *arg, uint64_t va, ptent_t *leaf, int level);
int pt_walk(const struct pt *pt, uint64_t start, uint64_t end, pt_walk_cb cb, void *arg);

/*
 * Free every page-table page of pt (root included) through ops.free_page.
 * Leaves' frames are not touched: call pt_walk first if they need releasing.
 */
void pt_free(struct pt *pt);

/*
 * Make dst an independent copy of src's tables (same ops, new pages).  For
 * each present leaf, after it has been copied, cb (if non-NULL) may edit both
 * the source and the copy (e.g. to mark them copy-on-write); a non-zero
 * return aborts.  2 MiB/1 GiB leaves stay large.  0, -ENOMEM or cb's error;
 * on error dst is freed.
 */
typedef int (*pt_clone_cb)(void *arg, uint64_t va, ptent_t *src, ptent_t *dst, int level);
int pt_clone(const struct pt *src, struct pt *dst, pt_clone_cb cb, void *arg);

/* Number of page-table pages (root included) reachable from pt->root. */
size_t pt_count_tables(const struct pt *pt);

#pragma GCC visibility pop

#endif /* LIBDUNE_PT_H */
