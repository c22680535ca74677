/*
 * host_shim.c - setup entry point for build/libdune_host.so (pt.c, page.c,
 * vm.c and layout.c built for the host), driven from Python by
 * tests/unit/test_libdune_pagetable.py.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include "../../internal.h"
#include "../../page.h"

static void *region;
static size_t region_pages;

/* Fresh page allocator over `pages` zeroed pages with fake guest-physical
 * addresses from 4 GiB, and an ordinary layout (1 TiB physical).  0 or -errno. */
int dunehost_setup(size_t pages)
{
	if (region)
		munmap(region, region_pages * PGSIZE);
	region = mmap(NULL, pages * PGSIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		region = NULL;
		return -1;
	}
	region_pages = pages;
	dune_layout.phys_limit = 1ULL << 40;
	dune_layout.base_map = 0x7f0000000000ULL;
	dune_layout.base_stack = 0x7ff000000000ULL;
	pgroot = NULL;
	return dune_page_init_region(region, 0x100000000ULL, pages);
}
