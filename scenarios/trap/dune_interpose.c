/*
 * dune_interpose.c - syscall interposition in Dune: code of this program
 * runs in ring 3 (dune_jump_to_user) and each of its SYSCALLs lands in a
 * ring-0 handler (dune_register_syscall_handler) that sees the number and
 * passes the call through to the host (dune_passthrough_syscall: a VMCALL).
 * Ring 3 times each of its getpid calls, as the ptrace child does.
 *
 * Events: the counters around the measured run, minus those around an
 * empty run (the jump into ring 3 and the end-of-run syscall), so they are
 * per interposed syscall exactly.
 */
#include <string.h>
#include <sys/mman.h>

#include "getpid.h"
#include "timing.h"
#include "trap.h"

#define SYS_END_RUN	0x7ff0		/* private number: the ring-0 handler ends the run */
#define USER_STACK	(64 * 1024)

extern char __executable_start[], _end[];

/* Shared with ring 3: the whole image is given PTE_U below. */
static long user_n;
static uint64_t *user_out, user_overhead;
static volatile long user_pid, user_bad;
static volatile long seen, seen_getpid;

static void handler(struct dune_tf *tf)
{
	if (tf->rax == SYS_END_RUN)
		dune_ret_from_user(0);
	seen++;
	if (tf->rax == SYS_getpid)
		seen_getpid++;
	dune_passthrough_syscall(tf);
}

/* Runs at CPL3.  No libc: only raw instructions and memory given PTE_U. */
static void __attribute__((noinline, noreturn)) user_loop(void)
{
	long i;

	for (i = 0; i < user_n; i++) {
		uint64_t t0 = tsc_begin();
		long got = syscall_getpid();
		uint64_t t1 = tsc_end();

		if (got != user_pid)
			user_bad = got;
		user_out[i] = tsc_net(t0, t1, user_overhead);
	}
	__asm__ volatile("syscall" : : "a"((long)SYS_END_RUN) : "rcx", "r11", "memory");
	for (;;)
		;
}

static void run_user(long n, uint8_t *stack)
{
	struct dune_tf tf;
	int ret;

	user_n = n;
	memset(&tf, 0, sizeof(tf));
	tf.rip = (uintptr_t)user_loop;
	tf.rsp = (uintptr_t)(stack + USER_STACK - 8);	/* as after a call: rsp + 8 16-aligned */
	tf.rflags = 0x2;
	ret = dune_jump_to_user(&tf);
	if (ret)
		fail("ring-3 run ended with %d (a fault in ring 3 is DUNE_USER_FAULT_BASE + signal)", ret);
}

void dune_interpose(const struct params *p, struct result *r)
{
	uintptr_t img = (uintptr_t)__executable_start & ~(PGSIZE_4K - 1);
	uintptr_t img_end = ((uintptr_t)_end + PGSIZE_4K - 1) & ~(PGSIZE_4K - 1);
	size_t out_bytes = ((size_t)p->n * sizeof(uint64_t) + PGSIZE_4K - 1) & ~(PGSIZE_4K - 1);
	struct dune_stats a0, b0, empty, a, b;
	uint8_t *stack;

	r->overhead = tsc_overhead(1000);
	user_overhead = r->overhead;
	user_pid = syscall_getpid();
	stack = map_fresh(USER_STACK);
	user_out = map_fresh(out_bytes);
	memset(stack, 0, USER_STACK);
	memset(user_out, 0, out_bytes);
	if (dune_vm_set_user(pgroot, (void *)img, img_end - img, true) ||
	    dune_vm_set_user(pgroot, stack, USER_STACK, true) ||
	    dune_vm_set_user(pgroot, user_out, out_bytes, true))
		fail("dune_vm_set_user failed");
	dune_flush_tlb();
	dune_register_syscall_handler(handler);

	run_user(p->n < 20 ? p->n : 20, stack);		/* warm-up */
	events_read(&a0);
	run_user(0, stack);				/* what a run costs besides its syscalls */
	events_read(&b0);
	events_sub(&empty, &a0, &b0, NULL);
	seen = seen_getpid = 0;
	events_read(&a);
	run_user(p->n, stack);
	events_read(&b);
	dune_register_syscall_handler(NULL);
	events_sub(&r->events, &a, &b, &empty);
	r->has_events = true;
	r->ops = (uint64_t)p->n;

	if (user_bad)
		fail("getpid in ring 3 returned %ld, expected %ld", user_bad, user_pid);
	if (seen != p->n || seen_getpid != p->n)
		fail("the ring-0 handler saw %ld syscalls (%ld getpid), expected %ld", seen, seen_getpid, p->n);
	r->samples = alloc_samples((size_t)p->n);
	memcpy(r->samples, user_out, (size_t)p->n * sizeof(uint64_t));
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
}
