/*
 * layout.h - host-virtual <-> guest-physical translation following struct
 * dune_layout (see ../kmod/uapi/dune.h).  Pure functions, host-testable.
 *
 *   A <  L = phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE      -> A (identity)
 *   base_stack <= A < base_stack + GPA_STACK_SIZE          -> A - base_stack + phys_limit - GPA_STACK_SIZE
 *   base_map   <= A < base_map   + GPA_MAP_SIZE            -> A - base_map + L
 *   anything else                                          -> not representable
 */
#ifndef LIBDUNE_LAYOUT_H
#define LIBDUNE_LAYOUT_H

#include <stdint.h>
#include "../kmod/uapi/dune.h"

#define DUNE_BAD_PA	(~0ULL)

/* Guest-physical address of host-virtual va, or DUNE_BAD_PA. */
static inline uint64_t dune_layout_va_to_pa(const struct dune_layout *l, uint64_t va)
{
	uint64_t ident = l->phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;

	if (va < ident)
		return va;
	if (va >= l->base_stack && va - l->base_stack < GPA_STACK_SIZE)
		return va - l->base_stack + l->phys_limit - GPA_STACK_SIZE;
	if (va >= l->base_map && va - l->base_map < GPA_MAP_SIZE)
		return va - l->base_map + ident;
	return DUNE_BAD_PA;
}

/* Inverse of dune_layout_va_to_pa (for page-table pages). */
static inline uint64_t dune_layout_pa_to_va(const struct dune_layout *l, uint64_t pa)
{
	uint64_t ident = l->phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;

	if (pa < ident)
		return pa;
	if (pa >= l->phys_limit - GPA_STACK_SIZE && pa < l->phys_limit)
		return pa - (l->phys_limit - GPA_STACK_SIZE) + l->base_stack;
	if (pa < ident + GPA_MAP_SIZE)
		return pa - ident + l->base_map;
	return DUNE_BAD_PA;
}

/*
 * The largest n <= len such that [va, va+n) lies in a single layout region
 * (so its guest-physical image is contiguous); 0 if va is not representable.
 */
static inline uint64_t dune_layout_contig(const struct dune_layout *l, uint64_t va, uint64_t len)
{
	uint64_t ident = l->phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;
	uint64_t lim;

	if (va < ident)
		lim = ident - va;
	else if (va >= l->base_stack && va - l->base_stack < GPA_STACK_SIZE)
		lim = l->base_stack + GPA_STACK_SIZE - va;
	else if (va >= l->base_map && va - l->base_map < GPA_MAP_SIZE) {
		lim = l->base_map + GPA_MAP_SIZE - va;
		/* the stack window takes precedence where the two overlap */
		if (va < l->base_stack && l->base_stack - va < lim)
			lim = l->base_stack - va;
	} else
		return 0;
	return len < lim ? len : lim;
}

#endif /* LIBDUNE_LAYOUT_H */
