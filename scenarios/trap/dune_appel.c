/*
 * dune_appel.c - Appel & Li's primitives in Dune, with the process's own
 * page table: protection is PTE_W in the guest's PTEs plus INVLPG, and the
 * faults go to a ring-0 #PF handler through the guest IDT, never to the
 * host.  Same rounds as linux_appel.c over 2 * NRPGS pages.
 *   appel1: the handler sets PTE_W on the faulting page and clears it on
 *     its partner, INVLPG for both.
 *   appel2: the round protects the first NRPGS pages with dune_vm_mprotect()
 *     and one TLB flush (timed); the handler sets PTE_W again.
 * Events cover all rounds (their untimed PTE resets make no exits either).
 */
#include <stdlib.h>
#include <string.h>

#include "timing.h"
#include "trap.h"

static volatile char *mem;
static long nrpgs;
static ptent_t **ptes;		/* 4 KiB PTE of each of the 2 * nrpgs pages */
static volatile long faults;
static int which;		/* 1: appel1, 2: appel2 */

static void prime(void)
{
	long i;

	for (i = 0; i < 2 * nrpgs; i++)
		mem[i * PGSIZE_4K] = (char)i;
}

static void on_pgflt(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	uintptr_t base = (uintptr_t)mem;
	long i;

	(void)tf;
	if (addr < base || addr >= base + nrpgs * PGSIZE_4K) {
		if (!(fec & FEC_P) && dune_pgflt_sync(addr) == 0)
			return;		/* libdune's lazy mapping of other memory */
		fail("page fault at %#lx (error code %#lx) outside the protected pages",
		     (unsigned long)addr, (unsigned long)fec);
	}
	if ((fec & (FEC_P | FEC_W)) != (FEC_P | FEC_W))
		fail("unexpected page fault at %#lx, error code %#lx", (unsigned long)addr, (unsigned long)fec);
	i = (long)((addr - base) / PGSIZE_4K);
	faults++;
	*ptes[i] |= PTE_W;
	dune_flush_tlb_one(base + (uintptr_t)i * PGSIZE_4K);
	if (which == 1) {
		*ptes[i + nrpgs] &= ~PTE_W;
		dune_flush_tlb_one(base + (uintptr_t)(i + nrpgs) * PGSIZE_4K);
	}
}

static void setup(const struct params *p, struct result *r, int w)
{
	long i;

	which = w;
	nrpgs = p->pages;
	mem = map_fresh(2 * (size_t)nrpgs * PGSIZE_4K);
	prime();		/* EPT faults here, not in the rounds */
	ptes = malloc(2 * (size_t)nrpgs * sizeof(*ptes));
	if (!ptes)
		fail("out of memory for the PTE pointers");
	for (i = 0; i < 2 * nrpgs; i++)
		if (dune_vm_lookup(pgroot, (void *)(mem + i * PGSIZE_4K), CREATE_NORMAL, &ptes[i]) ||
		    !(*ptes[i] & PTE_P) || !(*ptes[i] & PTE_W))
			fail("page %ld of the region has no writable 4 KiB PTE", i);
	dune_flush_tlb();
	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->rounds);
	r->nsamples = (size_t)p->rounds;
	r->ops_per_sample = 1;
	r->param_keys = "pages,rounds";
	dune_register_pgflt_handler(on_pgflt);
}

static void finish(const struct params *p)
{
	long i;

	dune_register_pgflt_handler(NULL);
	for (i = 0; i < 2 * nrpgs; i++)
		*ptes[i] |= PTE_W;
	dune_flush_tlb();
	if (faults != p->pages * (p->rounds + 1))
		fail("%ld faults in %ld rounds of %ld pages", faults, p->rounds, p->pages);
}

void dune_appel1(const struct params *p, struct result *r)
{
	long k, i;

	setup(p, r, 1);
	for (k = -1; k < p->rounds; k++) {	/* k = -1: warm-up round */
		uint64_t t0, t1;

		if (k == 0)
			events_begin();
		for (i = 0; i < nrpgs; i++)
			*ptes[i] &= ~PTE_W;
		dune_flush_tlb();
		t0 = tsc_begin();
		for (i = 0; i < nrpgs; i++)
			mem[i * PGSIZE_4K] = (char)i;
		t1 = tsc_end();
		if (k >= 0)
			r->samples[k] = tsc_net(t0, t1, r->overhead);
	}
	events_end(r, (uint64_t)p->rounds);
	finish(p);
}

void dune_appel2(const struct params *p, struct result *r)
{
	long k, i;

	setup(p, r, 2);
	for (k = -1; k < p->rounds; k++) {	/* k = -1: warm-up round */
		uint64_t t0, t1;

		if (k == 0)
			events_begin();
		for (i = 0; i < 2 * nrpgs; i++)
			*ptes[i] |= PTE_W;
		dune_flush_tlb();
		prime();
		t0 = tsc_begin();
		if (dune_vm_mprotect(pgroot, (void *)mem, nrpgs * PGSIZE_4K, PERM_R))
			fail("dune_vm_mprotect failed");
		dune_flush_tlb();
		for (i = 0; i < nrpgs; i++)
			mem[i * PGSIZE_4K] = (char)i;
		t1 = tsc_end();
		if (k >= 0)
			r->samples[k] = tsc_net(t0, t1, r->overhead);
	}
	events_end(r, (uint64_t)p->rounds);
	finish(p);
}
