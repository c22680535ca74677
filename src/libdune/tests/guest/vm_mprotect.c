/* vm_mprotect: make a page read-only with dune_vm_mprotect; a write faults
 * with the right address and error code, the handler restores write access. */
#include <sys/mman.h>
#include "../test_util.h"

static char *page;
static volatile uintptr_t seen_addr;
static volatile uint64_t seen_fec;
static volatile int faults;

static void handler(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	(void)tf;
	seen_addr = addr;
	seen_fec = fec;
	if (++faults > 3) {
		dune_printf("FAIL vm_mprotect: fault loop at %lx fec %lx\n", (unsigned long)addr, (unsigned long)fec);
		dune_die();
	}
	if (dune_vm_mprotect(pgroot, page, PGSIZE, PERM_R | PERM_W | PERM_U)) {
		dune_printf("FAIL vm_mprotect: mprotect in the handler failed\n");
		dune_die();
	}
	dune_flush_tlb_one(addr);
}

int main(void)
{
	ptent_t *pte;

	test_enter("vm_mprotect");
	page = mmap(NULL, PGSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(page != MAP_FAILED);
	page[0] = 1;
	dune_register_pgflt_handler(handler);

	TEST_ASSERT(dune_vm_mprotect(pgroot, page, PGSIZE, PERM_R | PERM_U) == 0);
	dune_flush_tlb_one((uintptr_t)page);
	TEST_ASSERT(dune_vm_lookup(pgroot, page, CREATE_NONE, &pte) == 0);
	TEST_ASSERT((*pte & (PTE_P | PTE_W)) == PTE_P);
	TEST_ASSERT(page[0] == 1);	/* reads still work */
	TEST_ASSERT(faults == 0);

	((volatile char *)page)[100] = 5;
	if (faults == 0) {
		printf("FAIL vm_mprotect: write to a read-only page did not fault (CR0.WP=%d)\n",
		       !!(read_cr0() & X86_CR0_WP));
		return 1;
	}
	TEST_ASSERT(faults == 1);
	TEST_ASSERT(seen_addr == (uintptr_t)page + 100);
	TEST_ASSERT((seen_fec & (FEC_P | FEC_W)) == (FEC_P | FEC_W));
	TEST_ASSERT(!(seen_fec & FEC_U));	/* ring 0 access */
	TEST_ASSERT(page[100] == 5);
	TEST_ASSERT(*pte & PTE_W);
	test_pass();
	return 0;
}
