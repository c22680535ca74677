/*
 * compat_bench: Appel & Li's PROT1,TRAP,UNPROT and PROTN,TRAP,UNPROT written
 * the way the original's benchmarks were: a page-fault handler that finds
 * the PTE with dune_vm_lookup and flips PTE_W, dune_vm_mprotect for protN,
 * dune_get_ticks (plain RDTSC) around each round of NRPGS pages.
 *
 *   compat_bench prot1|protn ROUNDS NRPGS
 *
 * One DUNELAB-METRIC line ("compat_prot1" / "compat_protn", emulated ticks
 * or cycles per round), then PASS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "libdune/dune.h"

static char *mem;
static long nrpgs;
static int prot1;
static volatile long faults;

static void pgflt_handler(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	ptent_t *pte;
	char *page = (char *)PGADDR(addr);

	(void)tf;
	if (page < mem || page >= mem + nrpgs * PGSIZE || !(fec & FEC_W)) {
		dune_printf("FAIL compat_bench: fault at %lx fec %lx\n", (unsigned long)addr, (unsigned long)fec);
		exit(1);
	}
	faults++;
	dune_vm_lookup(pgroot, page, CREATE_NONE, &pte);
	*pte |= PTE_W;
	dune_flush_tlb_one((unsigned long)page);
	if (prot1) {
		dune_vm_lookup(pgroot, page + nrpgs * PGSIZE, CREATE_NONE, &pte);
		*pte &= ~PTE_W;
		dune_flush_tlb_one((unsigned long)page + nrpgs * PGSIZE);
	}
}

static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char *argv[])
{
	unsigned long *samples, min_empty = ~0UL;
	long rounds, r, i;

	if (argc != 4 || (strcmp(argv[1], "prot1") && strcmp(argv[1], "protn"))) {
		fprintf(stderr, "usage: compat_bench prot1|protn ROUNDS NRPGS\n");
		return 2;
	}
	prot1 = !strcmp(argv[1], "prot1");
	rounds = atol(argv[2]);
	nrpgs = atol(argv[3]);
	if (rounds < 1 || nrpgs < 1) {
		fprintf(stderr, "compat_bench: bad ROUNDS or NRPGS\n");
		return 2;
	}
	samples = calloc(rounds, sizeof(*samples));
	if (!samples || dune_init_and_enter()) {
		printf("FAIL compat_bench: setup\n");
		return 1;
	}
	mem = mmap(NULL, 2 * nrpgs * PGSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		printf("FAIL compat_bench: mmap\n");
		return 1;
	}
	/* own 4 KiB PTEs for every page, touched once */
	for (i = 0; i < 2 * nrpgs; i++) {
		ptent_t *pte;

		mem[i * PGSIZE] = 1;
		if (dune_vm_lookup(pgroot, mem + i * PGSIZE, CREATE_NORMAL, &pte)) {
			printf("FAIL compat_bench: dune_vm_lookup\n");
			return 1;
		}
	}
	dune_flush_tlb();
	dune_register_pgflt_handler(pgflt_handler);

	for (r = -1; r < rounds; r++) {		/* r = -1: warm-up */
		unsigned long t0, t1;

		if (prot1) {
			dune_vm_mprotect(pgroot, mem, nrpgs * PGSIZE, PERM_R);
			dune_flush_tlb();
			t0 = dune_get_ticks();
			for (i = 0; i < nrpgs; i++)
				mem[i * PGSIZE] = (char)i;
			t1 = dune_get_ticks();
		} else {
			dune_vm_mprotect(pgroot, mem, 2 * nrpgs * PGSIZE, PERM_R | PERM_W);
			dune_flush_tlb();
			t0 = dune_get_ticks();
			dune_vm_mprotect(pgroot, mem, nrpgs * PGSIZE, PERM_R);
			dune_flush_tlb();
			for (i = 0; i < nrpgs; i++)
				mem[i * PGSIZE] = (char)i;
			t1 = dune_get_ticks();
		}
		if (r >= 0)
			samples[r] = t1 - t0;
	}
	dune_register_pgflt_handler(NULL);
	dune_vm_mprotect(pgroot, mem, 2 * nrpgs * PGSIZE, PERM_R | PERM_W);
	dune_flush_tlb();
	if (faults != (rounds + 1) * nrpgs) {
		printf("FAIL compat_bench: %ld faults in %ld rounds of %ld pages\n", faults, rounds + 1, nrpgs);
		return 1;
	}
	for (i = 0; i < 1000; i++) {
		unsigned long t0 = dune_get_ticks(), t1 = dune_get_ticks();

		if (t1 - t0 < min_empty)
			min_empty = t1 - t0;
	}
	for (r = 0; r < rounds; r++)
		samples[r] = samples[r] > min_empty ? samples[r] - min_empty : 0;
	printf("DUNELAB-METRIC {\"name\": \"compat_%s\", \"variant\": \"dune\", \"unit\": \"tsc\", \"samples\": [",
	       argv[1]);
	for (r = 0; r < rounds; r++)
		printf("%s%lu", r ? ", " : "", samples[r]);
	printf("], \"overhead\": %lu, \"ops_per_sample\": 1, \"params\": {\"rounds\": %ld, \"pages\": %ld}}\n",
	       min_empty, rounds, nrpgs);
	qsort(samples, rounds, sizeof(*samples), cmp_ul);
	printf("PASS compat_bench %s: median %lu ticks per round of %ld pages\n", argv[1], samples[rounds / 2], nrpgs);
	return 0;
}
