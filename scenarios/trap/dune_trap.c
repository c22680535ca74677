/*
 * dune_trap.c - a write to a write-protected page delivered to Dune's ring-0
 * #PF handler (dune_register_pgflt_handler): time from the faulting write to
 * the handler's first instruction.  The protection is the process's own page
 * table (PTE_W cleared, INVLPG); the handler sets PTE_W again.  No VM exit
 * is involved: the guest IDT takes the fault.
 */
#include <string.h>

#include "timing.h"
#include "trap.h"

static volatile char *page;
static ptent_t *pte;
static volatile uint64_t t_fault, t_handler;
static volatile long faults;

static void on_pgflt(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	uint64_t t = tsc_end();

	(void)tf;
	t_handler = t;
	if (!(fec & FEC_P) && (addr & ~(PGSIZE_4K - 1)) != (uintptr_t)page && dune_pgflt_sync(addr) == 0)
		return;		/* libdune's lazy mapping of other memory, as without a handler */
	if ((addr & ~(PGSIZE_4K - 1)) != (uintptr_t)page || !(fec & FEC_W) || !(fec & FEC_P))
		fail("page fault at %#lx (error code %#lx), expected a write to %p", (unsigned long)addr,
		     (unsigned long)fec, (void *)page);
	faults++;
	*pte |= PTE_W;
	dune_flush_tlb_one((uintptr_t)page);
}

void dune_trap(const struct params *p, struct result *r)
{
	long i;

	page = map_fresh(PGSIZE_4K);
	page[0] = 1;
	if (dune_vm_lookup(pgroot, (void *)page, CREATE_NORMAL, &pte) || !(*pte & PTE_P))
		fail("no 4 KiB PTE for the test page");
	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->n);
	dune_register_pgflt_handler(on_pgflt);
	for (i = -1; i < p->n; i++) {	/* i = -1: warm-up (first delivery touches fresh stack) */
		if (i == 0)
			events_begin();
		*pte &= ~PTE_W;
		dune_flush_tlb_one((uintptr_t)page);
		t_fault = tsc_begin();
		page[0] = (char)i;
		if (i >= 0)
			r->samples[i] = tsc_net(t_fault, t_handler, r->overhead);
	}
	events_end(r, (uint64_t)p->n);
	dune_register_pgflt_handler(NULL);
	if (faults != p->n + 1)
		fail("%ld faults for %ld protected writes", faults, p->n);
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
