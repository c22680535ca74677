/*
 * signals.c - host signals and the guest's view of signal dispositions.
 *
 * The program's sigaction() handlers run in Dune mode: the guest's
 * dispositions live in dune_guest_sigact[]; the host gets libdune's recorder,
 * which notes the signal for the thread's host loop to queue as an interrupt
 * (README "Signals").  Host side only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "internal.h"

struct k_sigaction dune_guest_sigact[DUNE_MAX_SIG + 1];
volatile int dune_sigact_lock;

void dune_sigreturn_tramp(void) HIDDEN;

#ifndef SA_RESTORER
#define SA_RESTORER	0x04000000
#endif

static bool is_handler(void *h)
{
	return h != SIG_DFL && h != SIG_IGN;
}

static void host_sig_handler(int sig, siginfo_t *si, void *uc)
{
	struct dune_thread *t = dune_self;
	struct k_sigaction *ka;

	if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	     sig == SIGTRAP || sig == SIGSYS) && si->si_code > 0) {
		/* A fault in host code (libdune itself): let it kill the process. */
		struct k_sigaction dfl = { SIG_DFL, 0, NULL, 0 };

		host_syscall6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
		return;
	}
	if (!t) {
		/* Not a Dune thread (created before dune_enter): run the handler here, as Linux would. */
		ka = &dune_guest_sigact[sig];
		if (!is_handler(ka->handler))
			return;
		if (ka->flags & SA_SIGINFO)
			((void (*)(int, siginfo_t *, void *))ka->handler)(sig, si, uc);
		else
			((void (*)(int))ka->handler)(sig);
		return;
	}
	t->siginfo[sig] = *si;
	__atomic_or_fetch(&t->pending, 1ULL << sig, __ATOMIC_SEQ_CST);
	dune_be->kick(t);
}

static long install_recorder(int sig)
{
	struct k_sigaction ka = {
		.handler = (void *)host_sig_handler,
		.flags = SA_SIGINFO | SA_RESTORER,	/* no SA_RESTART: see maybe_restart() */
		.restorer = (void *)dune_sigreturn_tramp,
		.mask = ~0ULL,
	};

	return host_syscall6(SYS_rt_sigaction, sig, (long)&ka, 0, 8, 0, 0);
}

int dune_host_signals_init(void)
{
	int sig;

	for (sig = 1; sig <= DUNE_MAX_SIG; sig++) {
		struct k_sigaction cur;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		memset(&cur, 0, sizeof(cur));
		if (host_syscall6(SYS_rt_sigaction, sig, 0, (long)&cur, 8, 0, 0))
			continue;
		dune_guest_sigact[sig] = cur;
		if (is_handler(cur.handler) && install_recorder(sig))
			return -EINVAL;
	}
	return 0;
}

/* rt_sigaction from the guest: the guest's dispositions live in
 * dune_guest_sigact; the host gets libdune's recorder for real handlers. */
long dune_guest_rt_sigaction(long sig, const struct k_sigaction *act, struct k_sigaction *oact, long size)
{
	struct k_sigaction nka, old;
	long r = 0;

	if (sig == DUNE_SIG_WATCHDOG && act && dune_be == &dune_backend_kvm)
		return -EINVAL;		/* the KVM back end's watchdog owns it */
	if (size != 8 || sig < 1 || sig > DUNE_MAX_SIG || sig == SIGKILL || sig == SIGSTOP)
		return host_syscall6(SYS_rt_sigaction, sig, (long)act, (long)oact, size, 0, 0);
	if (act && dune_host_copy(&nka, act, sizeof(nka)))
		return -EFAULT;
	host_spin_lock(&dune_sigact_lock);
	old = dune_guest_sigact[sig];
	if (act) {
		if (is_handler(nka.handler))
			r = install_recorder((int)sig);
		else
			r = host_syscall6(SYS_rt_sigaction, sig, (long)&nka, 0, 8, 0, 0);
		if (!r)
			dune_guest_sigact[sig] = nka;
	}
	host_spin_unlock(&dune_sigact_lock);
	if (r)
		return r;
	if (oact && dune_host_copy(oact, &old, sizeof(old)))
		return -EFAULT;
	return 0;
}

/* Syscalls Linux restarts after a handler with SA_RESTART (they return
 * -ERESTARTSYS, which we only see as -EINTR because our host handler has no
 * SA_RESTART). */
static bool restartable(long nr)
{
	switch (nr) {
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev:
	case SYS_pread64: case SYS_pwrite64: case SYS_preadv: case SYS_pwritev:
	case SYS_ioctl: case SYS_wait4: case SYS_waitid: case SYS_open: case SYS_openat:
	case SYS_futex: case SYS_flock: case SYS_fcntl: case SYS_accept: case SYS_accept4:
	case SYS_recvfrom: case SYS_sendto: case SYS_recvmsg: case SYS_sendmsg:
	case SYS_recvmmsg: case SYS_sendmmsg: case SYS_msgrcv: case SYS_msgsnd:
	case SYS_sendfile: case SYS_splice: case SYS_tee: case SYS_vmsplice:
	case SYS_connect: case SYS_fsync: case SYS_fdatasync: case SYS_ftruncate:
		return true;
	default:
		return false;
	}
}

/* -EINTR caused by a signal whose guest handler has SA_RESTART: re-execute
 * the VMCALL after the handler, which is injected at that very instruction. */
bool dune_maybe_restart(struct dune_thread *t, long nr)
{
	uint64_t p = t->pending;

	if (!p || !(t->conf.rflags & X86_EFLAGS_IF) || !restartable(nr) || !t->conf.vcpu)
		return false;
	while (p) {
		int sig = __builtin_ctzll(p);

		p &= p - 1;
		if (sig > DUNE_MAX_SIG || !(dune_guest_sigact[sig].flags & SA_RESTART))
			return false;
	}
	t->conf.rip -= DUNE_EXIT_INSN_LEN;	/* VMCALL or the HLT sequence (backend.h) */
	t->conf.rax = (uint64_t)nr;
	return true;
}
