/* Shared setup for the host tests of page.c / vm.c: a heap page region with
 * fake guest-physical addresses and a layout with all three regions. */
#ifndef LIBDUNE_VM_FIXTURE_H
#define LIBDUNE_VM_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include "../../internal.h"
#include "../../page.h"

#define FIX_REGION_PAGES	2048
#define FIX_REGION_PA		0x100000000ULL	/* 4 GiB: far from the test's own addresses */

static uint8_t *fix_region;

/* Fresh allocator over a zeroed region; the layout's mmap region starts at 64 GiB host-virtual. */
static inline void fix_setup(size_t pages)
{
	if (!fix_region)
		fix_region = aligned_alloc(BIG_PGSIZE, FIX_REGION_PAGES * PGSIZE);
	memset(fix_region, 0, FIX_REGION_PAGES * PGSIZE);
	dune_layout.phys_limit = 1ULL << 40;
	dune_layout.base_map = 0x7f0000000000ULL;
	dune_layout.base_stack = 0x7ff000000000ULL;
	dune_page_init_region(fix_region, FIX_REGION_PA, pages);
	pgroot = NULL;
}

#endif
