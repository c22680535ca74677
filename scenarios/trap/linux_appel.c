/*
 * linux_appel.c - Appel & Li's virtual-memory primitives with mprotect and
 * SIGSEGV over 2 * NRPGS pages (NRPGS = --pages); one sample = one round.
 *   appel1 (prot1 + trap + unprot): the first NRPGS pages are read-only; a
 *     write to each faults, and the handler unprotects that page and
 *     protects its partner NRPGS pages further on.
 *   appel2 (protN + trap + unprot): the round protects the first NRPGS pages
 *     with one mprotect (timed), then writes to each; the handler unprotects.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "timing.h"
#include "trap.h"

static volatile char *mem;
static long nrpgs;
static volatile long faults;

static void prime(void)
{
	long i;

	for (i = 0; i < 2 * nrpgs; i++)
		mem[i * PGSIZE_4K] = (char)i;
}

static char *fault_page(siginfo_t *si)
{
	char *a = (char *)((uintptr_t)si->si_addr & ~(PGSIZE_4K - 1));

	if (a < (char *)mem || a >= (char *)mem + nrpgs * PGSIZE_4K)
		fail("SIGSEGV at %p, outside the protected pages", si->si_addr);
	return a;
}

static void on_segv1(int sig, siginfo_t *si, void *uc)
{
	char *a = fault_page(si);

	(void)sig;
	(void)uc;
	faults++;
	if (mprotect(a, PGSIZE_4K, PROT_READ | PROT_WRITE) ||
	    mprotect(a + nrpgs * PGSIZE_4K, PGSIZE_4K, PROT_READ))
		fail("mprotect in the handler failed");
}

static void on_segv2(int sig, siginfo_t *si, void *uc)
{
	char *a = fault_page(si);

	(void)sig;
	(void)uc;
	faults++;
	if (mprotect(a, PGSIZE_4K, PROT_READ | PROT_WRITE))
		fail("mprotect in the handler failed");
}

static void setup(const struct params *p, struct result *r, void (*h)(int, siginfo_t *, void *))
{
	struct sigaction sa;

	nrpgs = p->pages;
	mem = map_fresh(2 * (size_t)nrpgs * PGSIZE_4K);
	prime();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		fail("sigaction failed");
	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->rounds);
	r->nsamples = (size_t)p->rounds;
	r->ops_per_sample = 1;
	r->param_keys = "pages,rounds";
}

static void check_faults(const struct params *p)
{
	signal(SIGSEGV, SIG_DFL);
	if (faults != p->pages * (p->rounds + 1))
		fail("%ld faults in %ld rounds of %ld pages", faults, p->rounds, p->pages);
}

void linux_appel1(const struct params *p, struct result *r)
{
	long k, i;

	setup(p, r, on_segv1);
	for (k = -1; k < p->rounds; k++) {	/* k = -1: warm-up round */
		uint64_t t0, t1;

		if (mprotect((void *)mem, nrpgs * PGSIZE_4K, PROT_READ))
			fail("mprotect failed");
		t0 = tsc_begin();
		for (i = 0; i < nrpgs; i++)
			mem[i * PGSIZE_4K] = (char)i;
		t1 = tsc_end();
		if (k >= 0)
			r->samples[k] = tsc_net(t0, t1, r->overhead);
	}
	check_faults(p);
}

void linux_appel2(const struct params *p, struct result *r)
{
	long k, i;

	setup(p, r, on_segv2);
	for (k = -1; k < p->rounds; k++) {	/* k = -1: warm-up round */
		uint64_t t0, t1;

		if (mprotect((void *)mem, 2 * nrpgs * PGSIZE_4K, PROT_READ | PROT_WRITE))
			fail("mprotect failed");
		prime();
		t0 = tsc_begin();
		if (mprotect((void *)mem, nrpgs * PGSIZE_4K, PROT_READ))
			fail("mprotect failed");
		for (i = 0; i < nrpgs; i++)
			mem[i * PGSIZE_4K] = (char)i;
		t1 = tsc_end();
		if (k >= 0)
			r->samples[k] = tsc_net(t0, t1, r->overhead);
	}
	check_faults(p);
}
