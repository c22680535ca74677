/*
 * syscall.c - the guest's system-call path: SYSCALL in Dune mode arrives
 * here (entry.S), and a call no handler takes becomes a VMCALL to the host
 * loop (or is answered by dune.ko itself).
 *
 * Compiled with -mgeneral-regs-only and entered without saving the FPU state:
 * like the kernel, the path must preserve the caller's vector registers, and
 * this code never touches them.  A registered syscall handler, or the rare
 * cases that need libc, run through dune_fpu_call(), which saves and restores
 * the FPU state around them.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "internal.h"

static __thread int in_syscall_handler __attribute__((tls_model("initial-exec")));

static inline void after_vmcall(uint64_t flags)
{
	struct dune_thread *t = dune_self;
	uint64_t gen = dune_tlb_gen;

	if ((flags & 1) || (t && t->tlb_gen != gen)) {
		if (t)
			t->tlb_gen = gen;
		flush_tlb();
	}
}

long dune_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	uint64_t flags;
	long ret;

	if (cpl() != 0)
		return host_syscall6(nr, a0, a1, a2, a3, a4, a5);
	ret = vmcall6(nr, a0, a1, a2, a3, a4, a5, NULL, &flags);
	after_vmcall(flags);
	return ret;
}

void dune_passthrough_syscall(struct dune_tf *tf)
{
	uint64_t flags;

	if (cpl() != 0) {
		tf->rax = (uint64_t)host_syscall6((long)tf->rax, (long)ARG0(tf), (long)ARG1(tf), (long)ARG2(tf),
						  (long)ARG3(tf), (long)ARG4(tf), (long)ARG5(tf));
		return;
	}
	tf->rax = (uint64_t)vmcall6((long)tf->rax, (long)ARG0(tf), (long)ARG1(tf), (long)ARG2(tf),
				    (long)ARG3(tf), (long)ARG4(tf), (long)ARG5(tf), tf, &flags);
	after_vmcall(flags);
}

void dune_register_syscall_handler(dune_syscall_cb cb)
{
	__atomic_store_n(&dune_syscall_handler, cb, __ATOMIC_RELEASE);
}

void dune_syscall_handler_done(void)
{
	in_syscall_handler = 0;
	if (dune_self)
		dune_self->syscall_fpu = NULL;	/* the handler's frame, and its FPU area, are gone */
}

/*
 * On dune_fpu_call's stack: area holds the caller's FPU state while the registered handler runs, and
 * dune_tf_fpu() hands it out from dune_self->syscall_fpu (kept for nested handlers' sake).
 */
static void run_syscall_handler(struct dune_tf *tf, void *area, void *cb)
{
	struct dune_thread *t = dune_self;
	void *outer;

	if (!t) {
		((dune_syscall_cb)cb)(tf);
		return;
	}
	outer = t->syscall_fpu;
	t->syscall_fpu = area;
	((dune_syscall_cb)cb)(tf);
	t->syscall_fpu = outer;
}

static void run_slow_case(struct dune_tf *tf, void *area, void *fn)
{
	(void)area;
	((void (*)(struct dune_tf *))fn)(tf);
}

void dune_syscall_dispatch(struct dune_tf *tf)
{
	dune_syscall_cb cb = dune_syscall_handler;

	if (cb && !in_syscall_handler) {
		in_syscall_handler = 1;
		dune_fpu_call(run_syscall_handler, tf, (void *)cb);
		in_syscall_handler = 0;
		return;
	}
	switch (tf->rax) {
	case SYS_rt_sigreturn:
		dune_fpu_call(run_slow_case, tf, (void *)dune_syscall_sigreturn);
		return;
	case SYS_arch_prctl:
		dune_passthrough_syscall(tf);
		dune_fpu_call(run_slow_case, tf, (void *)dune_syscall_arch_prctl_done);
		return;
	default:
		dune_passthrough_syscall(tf);
		return;
	}
}
