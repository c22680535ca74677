/*
 * trap.c - the guest side of libdune: trap dispatch in Dune mode, signal
 * delivery into the guest, handler registration, the slow cases of the
 * syscall path (its fast part is syscall.c), and the "any context" helpers
 * (dune_printf, dune_die).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <asm/prctl.h>

#include "internal.h"

/* ------------------------------------------------------------- output */

void dune_printf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, off = 0;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	while (off < n) {
		long r = dune_syscall6(SYS_write, 2, (long)(buf + off), n - off, 0, 0, 0);

		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		off += (int)r;
	}
}

static void __attribute__((noreturn)) exit_group_now(long status)
{
	for (;;)
		dune_syscall6(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

void dune_die(void)
{
	dune_printf("dune: dune_die() called, exiting with status %d\n", DUNE_EXIT_DIE);
	dune_print_backtrace((uintptr_t)dune_die, (uintptr_t)__builtin_frame_address(0));
	exit_group_now(DUNE_EXIT_DIE);
}

void dune_dump_trap_frame(const struct dune_tf *tf)
{
	dune_printf(" trap %llu err %#llx rip %016llx cs %llx rflags %016llx rsp %016llx ss %llx\n"
		    " rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		    " rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n"
		    " r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n"
		    " r13 %016llx r14 %016llx r15 %016llx\n",
		    (unsigned long long)tf->trapno, (unsigned long long)tf->err,
		    (unsigned long long)tf->rip, (unsigned long long)tf->cs,
		    (unsigned long long)tf->rflags, (unsigned long long)tf->rsp,
		    (unsigned long long)tf->ss, (unsigned long long)tf->rax,
		    (unsigned long long)tf->rbx, (unsigned long long)tf->rcx,
		    (unsigned long long)tf->rdx, (unsigned long long)tf->rsi,
		    (unsigned long long)tf->rdi, (unsigned long long)tf->rbp,
		    (unsigned long long)tf->r8, (unsigned long long)tf->r9,
		    (unsigned long long)tf->r10, (unsigned long long)tf->r11,
		    (unsigned long long)tf->r12, (unsigned long long)tf->r13,
		    (unsigned long long)tf->r14, (unsigned long long)tf->r15);
}

/* ------------------------------------------------------- registration */

int dune_register_intr_handler(int vector, dune_intr_cb cb)
{
	if (vector < 0 || vector > 255)
		return -EINVAL;
	__atomic_store_n(&dune_intr_cbs[vector], cb, __ATOMIC_RELEASE);
	return 0;
}

int dune_register_signal_handler(int signum, dune_intr_cb cb)
{
	if (signum < 1 || signum > DUNE_MAX_SIG)
		return -EINVAL;
	return dune_register_intr_handler(DUNE_SIGNAL_INTR_BASE + signum, cb);
}

void dune_register_pgflt_handler(dune_pgflt_cb cb)
{
	__atomic_store_n(&dune_pgflt_handler, cb, __ATOMIC_RELEASE);
}

/* ----------------------------------------------------- syscall path */

/* Slow cases of dune_syscall_dispatch() (syscall.c), called with the FPU state saved. */
void dune_syscall_sigreturn(struct dune_tf *tf)
{
	dune_printf("dune: rt_sigreturn in Dune mode: there is no signal frame "
		    "(libdune delivers signals as interrupts)\n");
	dune_dump_trap_frame(tf);
	exit_group_now(DUNE_EXIT_FATAL_BASE + SIGSEGV);
}

/* arch_prctl ran on the host: the host thread's base changed; the guest's is separate state. */
void dune_syscall_arch_prctl_done(struct dune_tf *tf)
{
	if (tf->rax == 0 && ARG0(tf) == ARCH_SET_FS)
		dune_set_user_fs(ARG1(tf));
	else if (tf->rax == 0 && ARG0(tf) == ARCH_SET_GS) {
		if (read_cr4() & X86_CR4_FSGSBASE)
			wrgsbase(ARG1(tf));
		else
			wrmsr(MSR_GS_BASE, ARG1(tf));
	}
}

/* --------------------------------------------------------- page faults */

int dune_pgflt_sync(uintptr_t addr)
{
	long r;

	if (cpl() != 0)
		return -EPERM;
	r = dune_syscall6(DUNE_VMCALL_PGFLT_SYNC, (long)addr, 0, 0, 0, 0, 0);
	if (r == 0)
		invlpg((void *)addr);
	return (int)r;
}

/* ------------------------------------------------------------ signals */

static void fill_ucontext(ucontext_t *uc, const struct dune_tf *tf)
{
	greg_t *g = uc->uc_mcontext.gregs;

	memset(uc, 0, sizeof(*uc));
	g[REG_R8] = (greg_t)tf->r8;
	g[REG_R9] = (greg_t)tf->r9;
	g[REG_R10] = (greg_t)tf->r10;
	g[REG_R11] = (greg_t)tf->r11;
	g[REG_R12] = (greg_t)tf->r12;
	g[REG_R13] = (greg_t)tf->r13;
	g[REG_R14] = (greg_t)tf->r14;
	g[REG_R15] = (greg_t)tf->r15;
	g[REG_RDI] = (greg_t)tf->rdi;
	g[REG_RSI] = (greg_t)tf->rsi;
	g[REG_RBP] = (greg_t)tf->rbp;
	g[REG_RBX] = (greg_t)tf->rbx;
	g[REG_RDX] = (greg_t)tf->rdx;
	g[REG_RAX] = (greg_t)tf->rax;
	g[REG_RCX] = (greg_t)tf->rcx;
	g[REG_RSP] = (greg_t)tf->rsp;
	g[REG_RIP] = (greg_t)tf->rip;
	g[REG_EFL] = (greg_t)tf->rflags;
	g[REG_CSGSFS] = (greg_t)(tf->cs & 0xFFFF);
	g[REG_ERR] = (greg_t)tf->err;
	g[REG_TRAPNO] = (greg_t)tf->trapno;
}

/*
 * Vector DUNE_SIGNAL_INTR_BASE + sig with no dune_register_signal_handler():
 * run the program's own sigaction() handler, in Dune mode, on the
 * interrupted stack, with the handler's mask applied on the host and
 * interrupts enabled (so other signals can nest as on Linux).
 */
static void deliver_signal(struct dune_tf *tf, int sig)
{
	struct k_sigaction ka = dune_guest_sigact[sig];
	struct dune_thread *t = dune_self;
	uint64_t block, old = 0;
	siginfo_t info;
	ucontext_t uc;

	if (ka.handler == SIG_IGN)
		return;
	if (ka.handler == SIG_DFL) {
		/* disposition reset since the signal was queued: let the host apply the default */
		long pid = dune_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
		long tid = dune_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0);

		dune_syscall6(SYS_tgkill, pid, tid, sig, 0, 0, 0);
		return;
	}
	if (t)
		info = t->siginfo[sig];
	else {
		memset(&info, 0, sizeof(info));
		info.si_signo = sig;
	}
	fill_ucontext(&uc, tf);
	if (ka.flags & SA_RESETHAND) {
		struct k_sigaction dfl = { SIG_DFL, 0, NULL, 0 };

		dune_syscall6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
	}
	block = ka.mask;
	if (!(ka.flags & SA_NODEFER))
		block |= 1ULL << (sig - 1);
	dune_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&block, (long)&old, 8, 0, 0);
	uc.uc_sigmask.__val[0] = old;

	sti();
	if (ka.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))ka.handler)(sig, &info, &uc);
	else
		((void (*)(int))ka.handler)(sig);
	cli();

	dune_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8, 0, 0);
}

/* ---------------------------------------------------------- dispatch */

static const char *trap_name(uint64_t v)
{
	static const char *const names[] = {
		"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
		"invalid opcode", "device not available", "double fault", "coprocessor overrun",
		"invalid TSS", "segment not present", "stack fault", "general protection",
		"page fault", "reserved", "x87 FP error", "alignment check", "machine check",
		"SIMD FP error", "virtualization exception", "control protection",
	};

	if (v < sizeof(names) / sizeof(names[0]))
		return names[v];
	if (v > DUNE_SIGNAL_INTR_BASE && v <= DUNE_SIGNAL_INTR_BASE + DUNE_MAX_SIG)
		return "signal";
	return v < 32 ? "reserved exception" : "interrupt";
}

static int trap_signal(uint64_t v)
{
	switch (v) {
	case T_DE: case T_MF: case T_XM:
		return SIGFPE;
	case T_DB: case T_BP:
		return SIGTRAP;
	case T_UD:
		return SIGILL;
	case T_AC:
		return SIGBUS;
	default:
		return SIGSEGV;
	}
}

/*
 * An exception nobody handles.  In ring 3 (dune_jump_to_user) it ends the
 * run, as Linux would kill the program; in ring 0 it is a bug in the Dune
 * program: print what happened and end the process with 128 + signal.
 */
static void __attribute__((noreturn)) trap_fatal(const struct dune_tf *tf, uint64_t cr2)
{
	int sig = trap_signal(tf->trapno);
	bool user = (tf->cs & 3) && dune_user_active();

	dune_printf("dune: unhandled %s (vector %llu) at rip %016llx",
		    trap_name(tf->trapno), (unsigned long long)tf->trapno, (unsigned long long)tf->rip);
	if (tf->trapno == T_PF)
		dune_printf(", address %016llx (%s, %s%s)", (unsigned long long)cr2,
			    (tf->err & FEC_P) ? "protection" : "not present",
			    (tf->err & FEC_W) ? "write" : (tf->err & FEC_I) ? "exec" : "read",
			    (tf->err & FEC_RSV) ? ", reserved bit" : "");
	if (user) {
		dune_printf(" in ring 3; ending the user run (signal %d)\n", sig);
		dune_dump_trap_frame(tf);
		dune_ret_from_user(DUNE_USER_FAULT_BASE + sig);
	}
	dune_printf("; exiting with status %d\n", DUNE_EXIT_FATAL_BASE + sig);
	dune_dump_trap_frame(tf);
	dune_print_backtrace(tf->rip, tf->rbp);
	exit_group_now(DUNE_EXIT_FATAL_BASE + sig);
}

static void trap_dispatch(struct dune_tf *tf);

void dune_trap_dispatch(struct dune_tf *tf)
{
	if (tf->cs & 3) {
		/* from ring 3 (dune_jump_to_user): ring-0 SYSCALL MSRs while handlers run */
		dune_user_msrs_kernel();
		trap_dispatch(tf);
		cli();
		dune_user_msrs_user();
		return;
	}
	trap_dispatch(tf);
}

static void trap_dispatch(struct dune_tf *tf)
{
	uint64_t v = tf->trapno;
	dune_intr_cb cb = v < 256 ? dune_intr_cbs[v] : NULL;

	if (v == T_PF) {
		uintptr_t addr = read_cr2();	/* before anything else can fault */
		dune_pgflt_cb pf = dune_pgflt_handler;

		if (cb) {
			cb(tf);
			return;
		}
		if (pf) {
			pf(addr, tf->err, tf);
			return;
		}
		if (dune_map_full && !(tf->err & (FEC_P | FEC_RSV)) && dune_pgflt_sync(addr) == 0)
			return;
		trap_fatal(tf, addr);
	}
	if (cb) {
		cb(tf);
		return;
	}
	if (v > DUNE_SIGNAL_INTR_BASE && v <= DUNE_SIGNAL_INTR_BASE + DUNE_MAX_SIG) {
		deliver_signal(tf, (int)(v - DUNE_SIGNAL_INTR_BASE));
		return;
	}
	if (v >= 32) {
		dune_printf("dune: warning: spurious interrupt vector %llu ignored\n", (unsigned long long)v);
		return;
	}
	trap_fatal(tf, 0);
}

/* entry.S: an exception while moving a trap frame to the interrupted stack. */
void dune_trap_nested_fatal(void) HIDDEN __attribute__((noreturn));
void dune_trap_nested_fatal(void)
{
	dune_printf("dune: fault while delivering an exception: the interrupted stack is not "
		    "usable (stack overflow or bad rsp); exiting with status %d\n",
		    DUNE_EXIT_FATAL_BASE + SIGSEGV);
	exit_group_now(DUNE_EXIT_FATAL_BASE + SIGSEGV);
}
