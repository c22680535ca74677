/*
 * hostloop.c - entering Dune (dune_enter) and each Dune thread's host loop:
 * DUNE_ENTER, then whatever the guest needs from the host (its system calls,
 * pending signals, its exit), then DUNE_ENTER again.  Runs in host mode on
 * the thread's private host-loop stack.
 *
 * The guest runs on the thread's own FPU/SSE/AVX registers.  This file is
 * compiled with -mgeneral-regs-only, so the loop and the plain system-call
 * path never touch vector state: the guest's stays in the registers across
 * the round trip, with no XSAVE/XRSTOR.  Anything else (libc, the page-table
 * code, printing, clone) may use vector registers: before calling it the loop
 * parks the guest's state in the thread block (park()), and loads it back
 * before the next DUNE_ENTER.
 *
 * Calls go one way: dune.c -> hostloop.c -> clone.c, mirror.c, signals.c,
 * thread.c, host_util.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include "internal.h"

/* Keep the guest's FPU state in the thread block: vector code may run now. */
static void park(struct dune_thread *t)
{
	if (t->fpu_live) {
		dune_fpu_save(t->fpu, t->fpu_mode);
		t->fpu_live = false;
	}
}

static void __attribute__((noreturn)) host_loop(struct dune_thread *t);

/* A new thread's host side (clone.c starts it on its own host stack). */
static void thread_host_main(void *arg)
{
	struct dune_thread *t = arg;

	dune_self = t;
	host_loop(t);
}

static void queue_pending(struct dune_thread *t)
{
	uint64_t p;

	if (!t->pending || !t->conf.vcpu)
		return;		/* no vCPU yet: keep them for after the first entry */
	p = __atomic_exchange_n(&t->pending, 0, __ATOMIC_SEQ_CST);
	while (p) {
		int sig = __builtin_ctzll(p);
		__u32 vec = DUNE_SIGNAL_INTR_BASE + sig;
		long r;

		p &= p - 1;
		r = host_syscall6(SYS_ioctl, dune_fd, DUNE_QUEUE_INTR, (long)&vec, 0, 0, 0);
		if (r < 0) {
			park(t);
			dune_printf("dune: DUNE_QUEUE_INTR(%u) failed: %ld; signal %d lost\n", vec, r, sig);
		}
	}
}

static void __attribute__((noreturn)) handle_exit(struct dune_thread *t, long nr, long status)
{
	park(t);
	if (nr == SYS_exit)
		dune_thread_exit(t, status);
	dune_host_exit_group(status);
}

static void dump_conf(const struct dune_config *c)
{
	dune_printf(" rip %016llx rsp %016llx rflags %016llx cr3 %016llx\n"
		    " rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		    " rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n"
		    " r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n"
		    " r13 %016llx r14 %016llx r15 %016llx\n",
		    c->rip, c->rsp, c->rflags, c->cr3, c->rax, c->rbx, c->rcx, c->rdx,
		    c->rsi, c->rdi, c->rbp, c->r8, c->r9, c->r10, c->r11, c->r12,
		    c->r13, c->r14, c->r15);
}

static void __attribute__((noreturn)) vmexit_fatal(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;
	const char *what;

	park(t);
	switch (c->ret) {
	case DUNE_RET_EPT_VIOLATION:
		what = "EPT violation (guest accessed memory outside the process)";
		break;
	case DUNE_RET_UNHANDLED_VMEXIT:
		what = c->status == 2 ? "triple fault" : "unhandled VM exit";
		break;
	case DUNE_RET_NOENTER:
		what = "VM entry failed";
		break;
	default:
		what = "unknown DUNE_ENTER return";
		break;
	}
	dune_printf("dune: fatal: %s (ret %lld, status/exit reason %lld), pid %ld\n", what,
		    (long long)c->ret, (long long)c->status, host_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0));
	dump_conf(c);
	dune_host_exit_group(DUNE_EXIT_VMEXIT);
}

/* One guest system call (DUNE_RET_SYSCALL): the result goes to conf.rax. */
static void handle_syscall(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;
	long nr = (long)c->rax;
	bool flush = false, child = false;
	long ret;

	switch (nr) {
	case SYS_exit:
	case SYS_exit_group:
		handle_exit(t, nr, (long)c->rdi);
	case SYS_clone:
		park(t);
		ret = dune_do_clone(t, c->rdi, c->rsi, c->rdx, c->r10, c->r8, &child, thread_host_main);
		break;
	case SYS_fork:
		park(t);
		ret = dune_do_clone(t, SIGCHLD, 0, 0, 0, 0, &child, thread_host_main);
		break;
	case SYS_vfork:
		park(t);
		ret = dune_do_clone(t, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0, &child,
				    thread_host_main);
		break;
	case SYS_clone3:
		ret = -ENOSYS;		/* glibc falls back to clone() */
		break;
	case SYS_rt_sigaction:
		park(t);
		ret = dune_guest_rt_sigaction((long)c->rdi, (const struct k_sigaction *)c->rsi,
					      (struct k_sigaction *)c->rdx, (long)c->r10);
		break;
	case SYS_rt_sigreturn:
		ret = -ENOSYS;		/* there is no host signal frame to return to */
		break;
	case SYS_mmap:
	case SYS_mprotect:
	case SYS_pkey_mprotect:
	case SYS_munmap:
	case SYS_mremap:
	case SYS_brk:
	case SYS_shmat:
	case SYS_shmdt:
	case DUNE_VMCALL_PGFLT_SYNC:
		park(t);
		ret = dune_mirror_syscall(c, &flush);
		break;
	default:
		/* The plain path: no vector state touched, nothing parked. */
		ret = host_syscall6(nr, (long)c->rdi, (long)c->rsi, (long)c->rdx,
				    (long)c->r10, (long)c->r8, (long)c->r9);
		break;
	}
	if (child)
		return;		/* fork child: conf was reset to boot a fresh vCPU */
	if (ret == -EINTR && t->pending) {
		park(t);
		if (dune_maybe_restart(t, nr))
			return;
	}
	c->rax = (uint64_t)ret;
	c->rcx = flush ? 1 : 0;		/* bit 0: flush the TLB (see dune_passthrough_syscall) */
	if (flush)
		__atomic_add_fetch(&dune_tlb_gen, 1, __ATOMIC_SEQ_CST);
}

static void __attribute__((noreturn)) host_loop(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;

	for (;;) {
		long r;

		queue_pending(t);
		if (!t->fpu_live) {
			dune_fpu_restore(t->fpu, t->fpu_mode);
			t->fpu_live = true;
		}
		r = host_syscall6(SYS_ioctl, dune_fd, DUNE_ENTER, (long)c, 0, 0, 0);
		if (r < 0) {
			if (r == -EINTR)
				continue;
			park(t);
			if (t->enter_saved && !c->vcpu) {
				dune_printf("dune: DUNE_ENTER failed: %ld\n", r);
				dune_thread_first_entry_failed(t, r);
			}
			dune_printf("dune: fatal: DUNE_ENTER failed: %ld\n", r);
			dump_conf(c);
			dune_host_exit_group(DUNE_EXIT_VMEXIT);
		}
		if (c->ret == DUNE_RET_NOENTER && t->enter_saved && !c->vcpu) {
			park(t);
			dune_printf("dune: could not enter Dune mode (status %lld)\n", (long long)c->status);
			dune_thread_first_entry_failed(t, -EIO);
		}
		t->enter_saved = NULL;

		switch (c->ret) {
		case DUNE_RET_SYSCALL:
			handle_syscall(t);
			break;
		case DUNE_RET_EXIT:
			handle_exit(t, (long)c->rax, (long)c->status);
		case DUNE_RET_SIGNAL:
		case DUNE_RET_INTERRUPT:
			break;	/* the host handler ran on the way out of the ioctl */
		default:
			vmexit_fatal(t);
		}
	}
}

static void host_loop_entry(void *arg)
{
	host_loop(arg);
}

/* Called by dune_enter (entry.S) with the caller's callee-saved registers:
 * saved[0..5] = r15 r14 r13 r12 rbx rbp, saved[6] = return address. */
int dune_enter_c(uint64_t *saved)
{
	struct dune_thread *t;

	if (cpl() == 0)
		return 0;	/* already in Dune mode */
	if (!dune_inited) {
		dune_printf("dune: dune_enter() before dune_init()\n");
		return -ENODEV;
	}
	if (dune_self)
		return -EBUSY;
	t = dune_thread_for_enter(saved);
	if (!t)
		return -ENOMEM;
	dune_self = t;
	dune_switch_stack(t->host_stack_top, host_loop_entry, t);
}
