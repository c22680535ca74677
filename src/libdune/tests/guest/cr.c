/* cr: privileged state is real: CR0/CR3/CR4, GDT/IDT/TSS loaded by libdune. */
#include "../test_util.h"

int main(void)
{
	uint64_t cr0, cr3, cr4, pa;
	struct x86_dtr idtr, gdtr;
	ptent_t *pte;
	int local = 5;

	test_enter("cr");
	cr0 = read_cr0();
	cr3 = read_cr3();
	cr4 = read_cr4();
	printf("cr0=%#llx cr3=%#llx cr4=%#llx pgroot_pa=%#llx\n", (unsigned long long)cr0,
	       (unsigned long long)cr3, (unsigned long long)cr4, (unsigned long long)dune_pgroot_pa());
	TEST_ASSERT(cr0 & X86_CR0_PG);
	TEST_ASSERT(cr0 & X86_CR0_PE);
	TEST_ASSERT(cr4 & X86_CR4_PAE);
	TEST_ASSERT((cr3 & PTE_ADDR) == dune_pgroot_pa());
	if (!(cr0 & X86_CR0_WP))
		printf("note: CR0.WP is clear: ring-0 writes ignore read-only pages\n");

	sidt(&idtr);
	sgdt(&gdtr);
	TEST_ASSERT(idtr.limit == 256 * 16 - 1);
	TEST_ASSERT(gdtr.limit == GD_ENTRIES * 8 - 1);
	TEST_ASSERT(read_cs() == GD_KT);
	TEST_ASSERT(read_tr() == GD_TSS);

	/* the page table maps our stack to its layout address, writable */
	TEST_ASSERT(dune_vm_lookup(pgroot, &local, 0, &pte) == 0);
	TEST_ASSERT(*pte & PTE_P);
	TEST_ASSERT(*pte & PTE_W);
	pa = PTE_ADDR_OF(*pte);
	if (*pte & PTE_PS)
		pa &= ~(BIG_PGSIZE - 1);
	TEST_ASSERT((dune_va_to_pa(&local) & ~(PGSIZE - 1)) - (pa & ~(PGSIZE - 1)) < BIG_PGSIZE);
	/* code is executable, data is not */
	TEST_ASSERT(dune_vm_lookup(pgroot, (void *)&main, 0, &pte) == 0);
	TEST_ASSERT(!(*pte & PTE_NX));
	TEST_ASSERT(dune_vm_lookup(pgroot, &local, 0, &pte) == 0);
	TEST_ASSERT(*pte & PTE_NX);
	test_pass();
	return 0;
}
