/* pgflt: a registered page-fault handler sees the right address/error and fixes the PTE. */
#include <sys/mman.h>
#include "../test_util.h"

static ptent_t *the_pte;
static volatile uintptr_t seen_addr;
static volatile uint64_t seen_fec;
static volatile int faults;

static void handler(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	(void)tf;
	seen_addr = addr;
	seen_fec = fec;
	faults++;
	if (faults > 5) {
		dune_printf("FAIL pgflt: fault loop at %lx\n", (unsigned long)addr);
		dune_die();
	}
	*the_pte |= PTE_P | PTE_W;
}

int main(void)
{
	volatile char *p;
	char v;

	test_enter("pgflt");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED);
	p[123] = 77;		/* mapped by libdune when mmap returned */

	TEST_ASSERT(dune_vm_lookup(pgroot, (void *)p, 1, &the_pte) == 0);
	TEST_ASSERT(*the_pte & PTE_P);
	dune_register_pgflt_handler(handler);

	/* not present -> read fault */
	*the_pte &= ~PTE_P;
	dune_flush_tlb_one((uintptr_t)p);
	v = p[123];
	TEST_ASSERT(faults == 1);
	TEST_ASSERT(seen_addr == (uintptr_t)p + 123);
	TEST_ASSERT(!(seen_fec & FEC_P));
	TEST_ASSERT(!(seen_fec & FEC_W));
	TEST_ASSERT(v == 77);

	/* read-only -> write protection fault (needs CR0.WP) */
	*the_pte &= ~PTE_W;
	dune_flush_tlb_one((uintptr_t)p);
	p[5] = 9;
	if (faults == 1) {
		printf("FAIL pgflt: write to a read-only PTE did not fault (CR0.WP=%d)\n",
		       !!(read_cr0() & X86_CR0_WP));
		return 1;
	}
	TEST_ASSERT(faults == 2);
	TEST_ASSERT(seen_addr == (uintptr_t)p + 5);
	TEST_ASSERT(seen_fec & FEC_P);
	TEST_ASSERT(seen_fec & FEC_W);
	TEST_ASSERT(p[5] == 9);
	test_pass();
	return 0;
}
