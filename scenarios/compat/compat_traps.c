/*
 * compat_traps: exceptions and the page-table calls, original-style.
 *   - T_DIVIDE and T_BRKPT handlers (dune_register_intr_handler), with the
 *     handler stepping rip over the faulting div;
 *   - dune_vm_map_pages on a range with no host memory behind it: fresh
 *     zeroed pages, visible in Dune mode only;
 *   - dune_vm_mprotect to read-only, a write, the pgflt handler giving
 *     PTE_W back through dune_vm_lookup and PTE_ADDR();
 *   - dune_vm_lookup_page on the fresh page, dune_vm_page_walk over it;
 *   - PERM_BIG_1GB accepted by dune_vm_map_phys (2 MiB pages in dunelab).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dune.h>

#define NPAGES	4

static volatile int divides, breakpoints, pgfaults;
static volatile unsigned fault_pages;	/* bit i: page i took a write fault */
static char *region;

static void divide_handler(struct dune_tf *tf)
{
	divides++;
	tf->rip += 3;		/* the `div %rcx` below is 3 bytes */
	tf->rax = 42;
}

static void brkpt_handler(struct dune_tf *tf)
{
	(void)tf;		/* rip is already past the int3 */
	breakpoints++;
}

static void pgflt_handler(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	ptent_t *pte;
	int ret;

	(void)tf;
	if (addr < (uintptr_t)region || addr >= (uintptr_t)region + NPAGES * PGSIZE ||
	    (fec & (FEC_P | FEC_W)) != (FEC_P | FEC_W)) {
		dune_printf("FAIL compat_traps: unexpected fault at %lx fec %lx\n",
			    (unsigned long)addr, (unsigned long)fec);
		exit(1);
	}
	ret = dune_vm_lookup(pgroot, (void *)addr, CREATE_NONE, &pte);
	assert(ret == 0);
	assert(PTE_ADDR(*pte) != 0);
	*pte |= PTE_W;
	dune_flush_tlb_one(addr);
	fault_pages |= 1u << ((addr - (uintptr_t)region) / PGSIZE);
	pgfaults++;
}

static int walked;

static int count_cb(const void *arg, ptent_t *pte, void *va)
{
	(void)arg;
	(void)va;
	if (*pte & PTE_P)
		walked++;
	return 0;
}

int main(void)
{
	unsigned long q;
	struct dune_page *pg;
	ptent_t *pte;
	int i, ret;

	if (dune_init_and_enter()) {
		printf("FAIL compat_traps: dune_init_and_enter\n");
		return 1;
	}

	/* --- exceptions */
	dune_register_intr_handler(T_DIVIDE, divide_handler);
	dune_register_intr_handler(T_BRKPT, brkpt_handler);
	__asm__ volatile("xorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\tmovl $7, %%eax\n\t"
			 "div %%rcx\n\tmovq %%rax, %0" : "=r"(q) : : "rax", "rcx", "rdx");
	__asm__ volatile("int3");
	if (divides != 1 || q != 42 || breakpoints != 1) {
		printf("FAIL compat_traps: divides %d (rax %lu) breakpoints %d\n", divides, q, breakpoints);
		return 1;
	}

	/* --- fresh pages where the host has nothing: reserve an address, free it again */
	region = mmap(NULL, NPAGES * PGSIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED || munmap(region, NPAGES * PGSIZE)) {
		printf("FAIL compat_traps: cannot find a free range\n");
		return 1;
	}
	ret = dune_vm_map_pages(pgroot, region, NPAGES * PGSIZE, PERM_R | PERM_W);
	if (ret) {
		printf("FAIL compat_traps: dune_vm_map_pages of an empty range: %d\n", ret);
		return 1;
	}
	for (i = 0; i < NPAGES * (int)PGSIZE; i++)
		if (region[i]) {
			printf("FAIL compat_traps: fresh page not zeroed at +%d\n", i);
			return 1;
		}
	memset(region, 0xa5, NPAGES * PGSIZE);
	if (dune_vm_lookup(pgroot, region, CREATE_NONE, &pte) || !(*pte & PTE_P) ||
	    !dune_page_isfrompool(PTE_ADDR(*pte))) {
		printf("FAIL compat_traps: the fresh page is not an allocator page\n");
		return 1;
	}
	pg = dune_vm_lookup_page(pgroot, region);
	if (!pg || dune_page2pa(pg) != PTE_ADDR(*pte)) {
		printf("FAIL compat_traps: dune_vm_lookup_page\n");
		return 1;
	}
	dune_vm_page_walk(pgroot, region, region + NPAGES * PGSIZE - 1, count_cb, NULL);
	if (walked != NPAGES) {
		printf("FAIL compat_traps: page walk saw %d pages\n", walked);
		return 1;
	}
	/* the host has no memory there: the pages are the guest's own */
	if (msync(region, PGSIZE, MS_ASYNC) == 0) {
		printf("FAIL compat_traps: the host maps the fresh range\n");
		return 1;
	}

	/* --- write protection and the pgflt handler */
	dune_register_pgflt_handler(pgflt_handler);
	ret = dune_vm_mprotect(pgroot, region, NPAGES * PGSIZE, PERM_R);
	if (ret) {
		printf("FAIL compat_traps: dune_vm_mprotect %d\n", ret);
		return 1;
	}
	dune_flush_tlb();
	for (i = 0; i < NPAGES; i++)
		((volatile char *)region)[i * PGSIZE + 1] = (char)i;
	if (pgfaults != NPAGES || fault_pages != (1u << NPAGES) - 1) {
		printf("FAIL compat_traps: %d page faults, on pages %#x\n", pgfaults, fault_pages);
		return 1;
	}
	for (i = 0; i < NPAGES; i++)
		if (region[i * PGSIZE] != (char)0xa5 || region[i * PGSIZE + 1] != (char)i) {
			printf("FAIL compat_traps: page %d lost its contents\n", i);
			return 1;
		}
	dune_register_pgflt_handler(NULL);
	dune_vm_unmap(pgroot, region, NPAGES * PGSIZE);
	dune_flush_tlb();

	/* --- CREATE_BIG is refused with a message, PERM_BIG_1GB maps (2 MiB pages) */
	if (dune_vm_lookup(pgroot, region, CREATE_BIG, &pte) != -EINVAL) {
		printf("FAIL compat_traps: CREATE_BIG was not refused\n");
		return 1;
	}
	{
		void *va = (void *)(64UL << 30);	/* 64 GiB: outside the host's mappings here */
		uint64_t pa = dune_va_to_pa(region) & ~(BIG_PGSIZE - 1);

		ret = dune_vm_map_phys(pgroot, va, BIG_PGSIZE, (void *)pa, PERM_R | PERM_BIG_1GB);
		if (ret || dune_vm_lookup(pgroot, va, CREATE_NONE, &pte) || !(*pte & PTE_PS)) {
			printf("FAIL compat_traps: PERM_BIG_1GB map_phys %d\n", ret);
			return 1;
		}
		dune_vm_unmap(pgroot, va, BIG_PGSIZE);
		dune_flush_tlb();
	}
	printf("PASS compat_traps\n");
	return 0;
}
