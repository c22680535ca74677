/* vm_map: map an allocator page at a brand-new VA (insert_page and map_phys) and read it back. */
#include <errno.h>
#include "../test_util.h"

#define NEW_VA	((char *)0x6f0000000000ULL)	/* nothing of the host's lives here */

int main(void)
{
	struct dune_page *pg, *found = NULL;
	volatile char *v = (volatile char *)NEW_VA;
	volatile char *alias = (volatile char *)(NEW_VA + 0x200000);
	char *direct;

	test_enter("vm_map");
	pg = dune_page_alloc();
	TEST_ASSERT(pg != NULL);
	direct = dune_page2va(pg);
	strcpy(direct, "written through the page region");

	TEST_ASSERT(dune_vm_insert_page(pgroot, NEW_VA, pg, PERM_R | PERM_W) == 0);
	dune_flush_tlb_one((uintptr_t)NEW_VA);
	TEST_ASSERT(strcmp((const char *)v, "written through the page region") == 0);
	v[0] = 'W';			/* and the other way round */
	TEST_ASSERT(direct[0] == 'W');
	TEST_ASSERT(dune_vm_lookup_page(pgroot, NEW_VA, &found) == 0 && found == pg);
	TEST_ASSERT(pg->ref == 2);

	/* a second, read-only alias of the same frame with map_phys */
	TEST_ASSERT(dune_vm_map_phys(pgroot, (void *)alias, PGSIZE, dune_page2pa(pg), PERM_R) == 0);
	dune_flush_tlb_one((uintptr_t)alias);
	TEST_ASSERT(alias[0] == 'W');
	TEST_ASSERT(dune_va_to_pa(direct) == dune_page2pa(pg));
	TEST_ASSERT(dune_pa_to_va(dune_page2pa(pg)) == direct);

	TEST_ASSERT(dune_vm_unmap(pgroot, (void *)alias, PGSIZE) == 0);
	TEST_ASSERT(dune_vm_unmap(pgroot, NEW_VA, PGSIZE) == 0);
	dune_flush_tlb();
	TEST_ASSERT(pg->ref == 1);
	TEST_ASSERT(dune_vm_lookup_page(pgroot, NEW_VA, &found) == -ENOENT);
	dune_page_put(pg);
	test_pass();
	return 0;
}
