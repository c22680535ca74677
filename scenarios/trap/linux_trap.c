/*
 * linux_trap.c - a write to a write-protected page delivered to a SIGSEGV
 * handler: time from the faulting write to the handler's first instruction.
 * The handler unprotects the page (mprotect) so the write completes; the
 * re-protection before the next write is not timed.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "timing.h"
#include "trap.h"

static volatile char *page;
static volatile uint64_t t_fault, t_handler;
static volatile long faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	uint64_t t = tsc_end();

	(void)sig;
	(void)uc;
	t_handler = t;
	if ((char *)si->si_addr != (char *)page)
		fail("SIGSEGV at %p, expected %p", si->si_addr, (void *)page);
	faults++;
	if (mprotect((void *)page, PGSIZE_4K, PROT_READ | PROT_WRITE))
		fail("mprotect in the handler failed");
}

void linux_trap(const struct params *p, struct result *r)
{
	struct sigaction sa;
	long i;

	page = map_fresh(PGSIZE_4K);
	page[0] = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		fail("sigaction failed");
	r->overhead = tsc_overhead(1000);
	r->samples = alloc_samples((size_t)p->n);
	for (i = -1; i < p->n; i++) {	/* i = -1: warm-up */
		if (mprotect((void *)page, PGSIZE_4K, PROT_READ))
			fail("mprotect failed");
		t_fault = tsc_begin();
		page[0] = (char)i;
		if (i >= 0)
			r->samples[i] = tsc_net(t_fault, t_handler, r->overhead);
	}
	signal(SIGSEGV, SIG_DFL);
	if (faults != p->n + 1)
		fail("%ld faults for %ld protected writes", faults, p->n);
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
