/*
 * vm_clone: dune_vm_clone gives an independent copy with copy-on-write.
 *
 * Cloning makes every writable PTE_U page COW in both tables.  In this
 * process everything (stack, globals, libdune's own data) is PTE_U, and a
 * COW fault on the stack the trap frame goes to cannot be handled, so the
 * test first drops PTE_U from every leaf of the live table except its
 * buffer (ring 0 ignores PTE_U: no SMAP/SMEP), marking them with PTE_USR1
 * to restore afterwards.  Then only the buffer is COW.
 */
#include "../test_util.h"

#define BUF	((char *)0x6f1000000000ULL)

static volatile int faults;

static void handler(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	(void)tf;
	faults++;
	if (dune_vm_default_pgflt_handler(addr, fec) != 0) {
		dune_printf("FAIL vm_clone: unexpected fault at %lx fec %lx\n", (unsigned long)addr, (unsigned long)fec);
		dune_die();
	}
}

static int strip_user(const void *arg, ptent_t *pte, void *va)
{
	(void)arg;
	if ((char *)va != BUF && (*pte & PTE_U))
		*pte = (*pte & ~PTE_U) | PTE_USR1;
	return 0;
}

static int restore_user(const void *arg, ptent_t *pte, void *va)
{
	(void)arg;
	(void)va;
	if (*pte & PTE_USR1)
		*pte = (*pte & ~PTE_USR1) | PTE_U;
	return 0;
}

static ptent_t leaf(ptent_t *root)
{
	ptent_t *e;

	return dune_vm_lookup(root, BUF, CREATE_NONE, &e) ? 0 : *e;
}

int main(void)
{
	struct dune_page *pg, *found = NULL;
	volatile char *b = (volatile char *)BUF;
	ptent_t *clone;
	uint64_t live_cr3, flags;
	char seen_in_clone;

	test_enter("vm_clone");
	pg = dune_page_alloc();
	TEST_ASSERT(pg != NULL);
	strcpy(dune_page2va(pg), "original");
	TEST_ASSERT(dune_vm_insert_page(pgroot, BUF, pg, PERM_R | PERM_W | PERM_U) == 0);
	dune_page_put(pg);		/* the PTE owns it */
	dune_flush_tlb_one((uintptr_t)BUF);
	TEST_ASSERT(strcmp((const char *)b, "original") == 0);
	dune_register_pgflt_handler(handler);

	TEST_ASSERT(dune_vm_page_walk(pgroot, (void *)0, (void *)VA_USER_LIMIT, strip_user, NULL) == 0);
	dune_flush_tlb();
	clone = dune_vm_clone(pgroot);
	TEST_ASSERT(clone != NULL);
	dune_flush_tlb();		/* the live table's buffer PTE lost PTE_W */
	TEST_ASSERT((leaf(pgroot) & (PTE_W | PTE_COW)) == PTE_COW);
	TEST_ASSERT(leaf(clone) == leaf(pgroot));
	TEST_ASSERT(pg->ref == 2);
	TEST_ASSERT(faults == 0);

	/* write on the live side: private copy, the clone keeps the original */
	b[0] = 'P';
	TEST_ASSERT(faults == 1);
	TEST_ASSERT(strcmp((const char *)b, "Priginal") == 0);
	TEST_ASSERT(leaf(pgroot) & PTE_W);
	TEST_ASSERT(PTE_ADDR_OF(leaf(pgroot)) != dune_page2pa(pg));
	TEST_ASSERT(dune_vm_lookup_page(clone, BUF, &found) == 0 && found == pg);
	TEST_ASSERT(strcmp(dune_page2va(pg), "original") == 0);
	TEST_ASSERT(pg->ref == 1);

	/* run on the clone for a moment: it sees "original"; its write reuses the page (last owner) */
	live_cr3 = read_cr3();
	flags = read_rflags();
	cli();
	write_cr3(dune_va_to_pa(clone));
	seen_in_clone = b[0];
	b[1] = 'C';
	write_cr3(live_cr3);
	if (flags & X86_EFLAGS_IF)
		sti();
	TEST_ASSERT(seen_in_clone == 'o');
	TEST_ASSERT(faults == 2);
	TEST_ASSERT(PTE_ADDR_OF(leaf(clone)) == dune_page2pa(pg));
	TEST_ASSERT(strcmp(dune_page2va(pg), "oCiginal") == 0);
	TEST_ASSERT(strcmp((const char *)b, "Priginal") == 0);	/* live side unaffected */

	dune_vm_free(clone);
	TEST_ASSERT(pg->ref == 0);
	TEST_ASSERT(dune_vm_page_walk(pgroot, (void *)0, (void *)VA_USER_LIMIT, restore_user, NULL) == 0);
	TEST_ASSERT(dune_vm_unmap(pgroot, BUF, PGSIZE) == 0);
	dune_flush_tlb();
	test_pass();
	return 0;
}
