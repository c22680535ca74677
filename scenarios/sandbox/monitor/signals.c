/*
 * signals.c - the program's signal handlers, run in ring 3 with the frame
 * Linux builds, and rt_sigreturn emulated from it.
 *
 * The program's dispositions live here (S.act).  For a real handler the
 * monitor asks libdune to record the signal on the host (a sigaction from
 * ring 0 installs libdune's recorder) and registers itself for the signal's
 * vector (dune_register_signal_handler): the signal then arrives as an
 * interrupt in ring 0.  If ring 3 was running, the frame is built right away
 * on the ring-3 stack (or the sigaltstack) and the saved ring-3 context is
 * redirected to the handler; if the monitor was serving a system call, the
 * signal waits until that call returns to ring 3.  The frame is Linux's
 * rt_sigframe: return address (sa_restorer), ucontext (sigcontext with every
 * register, the signal mask, the sigaltstack), siginfo, and the XSAVE image
 * of the FPU state with its software bytes; rt_sigreturn reads it back,
 * checked (cs must be the program's, ss is, rflags only the flags user code may
 * change, rip and rsp user addresses, an XSAVE image XRSTOR would refuse is a
 * SIGSEGV as on Linux), so a forged frame cannot fault ring 0.  SIG_DFL and SIG_IGN stay with the host kernel,
 * which applies them to the whole process, as it would natively.
 *
 * The ring-3 FPU state at a trap is the XSAVE area libdune's entry stub put
 * below the trap frame (entry.S CALL_WITH_FPU: (tf - size) & -64); it is
 * restored from there when ring 0 returns, so that area is what frames save
 * and what sigreturn rewrites.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbx.h"

#define EFL_FIX		(0x1UL | 0x4UL | 0x10UL | 0x40UL | 0x80UL | 0x100UL | 0x400UL | 0x800UL | 0x40000UL)
					/* CF PF AF ZF SF TF DF OF AC: what sigreturn may set */
#define EFL_IF		0x200UL
#define EFL_TF		0x100UL
#define EFL_DF		0x400UL
#define EFL_RF		0x10000UL
#define EFL_AC		0x40000UL
#define MINSIGSTK	2048
#define USER_TOP	(1ULL << 47)

static void dummy_handler(int sig)
{
	(void)sig;	/* never called: libdune calls on_signal() for the vector instead */
}

static uint64_t sigbit(int sig)
{
	return 1ULL << (sig - 1);
}

static uint64_t host_mask(void)
{
	uint64_t m = 0;

	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static void set_host_mask(uint64_t m)
{
	m &= ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8);
}

static bool is_handler(uint64_t h)
{
	return h != (uint64_t)(uintptr_t)SIG_DFL && h != (uint64_t)(uintptr_t)SIG_IGN;
}

/* Tell the host what to do with sig: record it for us (handler), or SIG_DFL / SIG_IGN. */
static long host_disposition(int sig, const struct k_sigaction *ka)
{
	struct k_sigaction h;

	memset(&h, 0, sizeof(h));
	if (is_handler(ka->handler)) {
		h.handler = (uint64_t)(uintptr_t)dummy_handler;
		h.flags = SA_SIGINFO;	/* no SA_RESTART: the monitor restarts calls itself */
	} else {
		h.handler = ka->handler;
		h.flags = ka->flags & (SA_NOCLDSTOP | SA_NOCLDWAIT);
	}
	h.mask = ka->mask;
	return syscall(SYS_rt_sigaction, sig, &h, NULL, 8) ? -errno : 0;
}

/*
 * Ring 3's FPU state, as libdune saved it on the way into the monitor (and restores it on the way
 * out): for a system call, dune_fpu_call's area found by on_syscall (sandbox.c); for an exception or
 * interrupt, the area entry.S's CALL_WITH_FPU puts right below the trap frame, 64-byte aligned.
 */
static uint8_t *fpu_area(const struct dune_tf *tf)
{
	if (tf->trapno == DUNE_TRAPNO_SYSCALL)
		return r3->sys_fpu;
	return (uint8_t *)(((uintptr_t)tf - S.fpu_size) & ~(uintptr_t)63);
}

/* The FPU state a handler starts with (Linux gives handlers a clean one). */
static void init_fpu(uint8_t *area)
{
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80;

	if (S.fpu_mode == 2) {
		memset(area + 512, 0, 64);	/* XSTATE_BV = 0: every component in its initial state */
	} else {
		memset(area, 0, 512);
	}
	memcpy(area, &fcw, 2);
	memcpy(area + 24, &mxcsr, 4);
}

static bool on_altstack(uint64_t sp)
{
	const struct k_stack *a = &r3->altstack;

	return !(a->ss_flags & SS_DISABLE) && a->ss_size && sp > a->ss_sp && sp - a->ss_sp <= a->ss_size;
}

/* ----------------------------------------------------------- delivery */

struct fpx_sw {
	uint32_t magic1, extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size, padding[7];
};
_Static_assert(sizeof(struct fpx_sw) == 48, "_fpx_sw_bytes is 48 bytes");

/* Build the frame for sig on the ring-3 stack and point tf at the handler.  0 or -EFAULT. */
static int setup_frame(struct dune_tf *tf, int sig, const siginfo_t *info)
{
	struct k_sigaction *ka = &S.act[sig];
	uint64_t oldmask = host_mask(), newmask, sp = tf->rsp, fp, frame;
	size_t xsz = S.fpu_size;
	uint8_t *area = fpu_area(tf);
	bool on = on_altstack(sp);
	struct rt_sigframe f;
	struct k_sigcontext *mc = &f.uc.uc_mcontext;

	if (!(ka->flags & SA_RESTORER) || !ka->restorer)
		return -EFAULT;	/* x86-64 handlers return through sa_restorer */
	if ((ka->flags & SA_ONSTACK) && !(r3->altstack.ss_flags & SS_DISABLE) && r3->altstack.ss_size && !on)
		sp = r3->altstack.ss_sp + r3->altstack.ss_size;
	else
		sp -= 128;	/* the red zone */
	sp -= xsz + 4;
	sp &= ~63ULL;
	fp = sp;
	sp -= sizeof(struct rt_sigframe);
	sp = (sp & ~15ULL) - 8;
	frame = sp;

	memset(&f, 0, sizeof(f));
	f.pretcode = ka->restorer;
	f.uc.uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | (S.fpu_mode == 2 ? UC_FP_XSTATE : 0);
	f.uc.uc_stack.ss_sp = r3->altstack.ss_sp;
	f.uc.uc_stack.ss_size = r3->altstack.ss_size;
	f.uc.uc_stack.ss_flags = (r3->altstack.ss_flags & SS_DISABLE) ? SS_DISABLE :
				 (on ? SS_ONSTACK : 0) | (r3->altstack.ss_flags & SS_AUTODISARM);
	mc->r8 = tf->r8; mc->r9 = tf->r9; mc->r10 = tf->r10; mc->r11 = tf->r11;
	mc->r12 = tf->r12; mc->r13 = tf->r13; mc->r14 = tf->r14; mc->r15 = tf->r15;
	mc->rdi = tf->rdi; mc->rsi = tf->rsi; mc->rbp = tf->rbp; mc->rbx = tf->rbx;
	mc->rdx = tf->rdx; mc->rax = tf->rax; mc->rcx = tf->rcx; mc->rsp = tf->rsp;
	mc->rip = tf->rip;
	mc->eflags = tf->rflags;
	mc->cs = 0x33;
	mc->ss = 0x2b;
	if (info->si_signo == SIGSEGV || info->si_signo == SIGBUS || info->si_signo == SIGILL ||
	    info->si_signo == SIGFPE || info->si_signo == SIGTRAP) {
		mc->trapno = tf->trapno < 256 ? tf->trapno : 0;
		mc->err = tf->trapno == 14 ? (tf->err | 4) : tf->err;	/* PF error codes from user mode have U */
		mc->cr2 = (uint64_t)(uintptr_t)info->si_addr;
	}
	mc->oldmask = oldmask;
	mc->fpstate = fp;
	f.uc.uc_sigmask = oldmask;
	f.info = *info;

	if (sbx_copy_out(fp, area, xsz))
		return -EFAULT;
	if (S.fpu_mode == 2) {
		struct fpx_sw sw = { FP_XSTATE_MAGIC1, (uint32_t)xsz + 4, S.xcr0, (uint32_t)xsz, { 0 } };
		uint32_t m2 = FP_XSTATE_MAGIC2;

		if (sbx_copy_out(fp + 464, &sw, sizeof(sw)) || sbx_copy_out(fp + xsz, &m2, 4))
			return -EFAULT;
	}
	if (sbx_copy_out(frame, &f, sizeof(f)))
		return -EFAULT;

	tf->rdi = (uint64_t)sig;
	tf->rsi = frame + offsetof(struct rt_sigframe, info);
	tf->rdx = frame + offsetof(struct rt_sigframe, uc);
	tf->rax = 0;
	tf->rsp = frame;
	tf->rip = ka->handler;
	tf->rflags &= ~(EFL_DF | EFL_TF | EFL_RF | EFL_AC);
	init_fpu(area);
	if ((r3->altstack.ss_flags & SS_AUTODISARM) && sp >= r3->altstack.ss_sp &&
	    sp < r3->altstack.ss_sp + r3->altstack.ss_size) {
		r3->altstack.ss_sp = 0;
		r3->altstack.ss_size = 0;
		r3->altstack.ss_flags = SS_DISABLE;
	}
	newmask = oldmask | ka->mask | ((ka->flags & SA_NODEFER) ? 0 : sigbit(sig));
	set_host_mask(newmask);
	if (ka->flags & SA_RESETHAND) {
		ka->handler = (uint64_t)(uintptr_t)SIG_DFL;
		ka->flags &= ~SA_SIGINFO;
		host_disposition(sig, ka);
	}
	S.nsignals++;
	return 0;
}

/* Calls Linux restarts after a handler with SA_RESTART (they would have returned -ERESTARTSYS). */
static bool restartable(long nr)
{
	switch (nr) {
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64: case SYS_pwrite64:
	case SYS_preadv: case SYS_pwritev: case SYS_ioctl: case SYS_wait4: case SYS_waitid: case SYS_open:
	case SYS_openat: case SYS_futex: case SYS_flock: case SYS_fcntl: case SYS_accept: case SYS_accept4:
	case SYS_recvfrom: case SYS_sendto: case SYS_recvmsg: case SYS_sendmsg: case SYS_recvmmsg:
	case SYS_sendmmsg: case SYS_msgrcv: case SYS_msgsnd: case SYS_sendfile: case SYS_splice: case SYS_tee:
	case SYS_vmsplice: case SYS_connect: case SYS_fsync: case SYS_fdatasync: case SYS_ftruncate:
	case SYS_mq_timedsend: case SYS_mq_timedreceive: case SYS_semop: case SYS_semtimedop:
	case SYS_copy_file_range: case SYS_fallocate:
		return true;
	default:
		return false;
	}
}

static void deliver(struct dune_tf *tf, int sig, siginfo_t *info)
{
	struct k_sigaction *ka = &S.act[sig];

	if (ka->handler == (uint64_t)(uintptr_t)SIG_IGN)
		return;
	if (!is_handler(ka->handler) || (host_mask() & sigbit(sig))) {
		/* reset to SIG_DFL, or blocked meanwhile: let the host have it again (default action, or pending) */
		syscall(SYS_tgkill, S.pid, r3->tid, sig);
		return;
	}
	if (r3->at_syscall && (long)tf->rax == -EINTR && (ka->flags & SA_RESTART) && restartable(r3->sys_nr)) {
		tf->rax = (uint64_t)r3->sys_nr;	/* the frame returns to the SYSCALL instruction again */
		tf->rip -= 2;
	}
	r3->at_syscall = false;
	if (setup_frame(tf, sig, info)) {
		sbx_log_event("signal", "\"signal\":%d,\"decision\":\"kill\",\"reason\":\"the signal frame could not be "
			      "written to the program's stack\",\"rsp\":\"0x%llx\"", sig, (unsigned long long)tf->rsp);
		sbx_die_by_signal(SIGSEGV);
	}
}

void sbx_deliver_pending(struct dune_tf *tf)
{
	while (r3->pending) {
		int sig = __builtin_ctzll(r3->pending);

		r3->pending &= ~(1ULL << sig);
		deliver(tf, sig, &r3->info[sig]);
	}
	r3->at_syscall = false;
}

/* Vector 200 + sig: the host recorded sig for us. */
static void on_signal(struct dune_tf *tf)
{
	int sig = (int)tf->trapno - DUNE_SIGNAL_INTR_BASE;
	siginfo_t *info;

	if (!r3 || sig < 1 || sig > 64)
		return;
	info = &r3->info[sig];
	if (!(r3->self_sent & (1ULL << sig))) {
		memset(info, 0, sizeof(*info));
		info->si_signo = sig;
		info->si_code = SI_KERNEL;
	}
	r3->self_sent &= ~(1ULL << sig);
	if (tf->cs & 3) {
		r3->at_syscall = false;
		deliver(tf, sig, info);
		return;
	}
	r3->pending |= 1ULL << sig;	/* delivered when the monitor returns to ring 3 */
}

void sbx_signals_init(void)
{
	int sig;

	for (sig = 1; sig <= 64; sig++) {
		struct k_sigaction cur;

		if (sig <= 55 && sig != SIGKILL && sig != SIGSTOP)
			dune_register_signal_handler(sig, on_signal);
		memset(&cur, 0, sizeof(cur));
		if (!syscall(SYS_rt_sigaction, sig, NULL, &cur, 8) && cur.handler == (uint64_t)(uintptr_t)SIG_IGN)
			S.act[sig].handler = cur.handler;	/* ignored signals stay ignored, as across execve */
	}
	if (!r3->fpbuf)
		r3->fpbuf = aligned_alloc(64, (S.fpu_size + 63) & ~(size_t)63);
}

void sbx_sig_reset_for_exec(void)
{
	int sig;

	for (sig = 1; sig <= 64; sig++)
		if (is_handler(S.act[sig].handler)) {
			memset(&S.act[sig], 0, sizeof(S.act[sig]));
			host_disposition(sig, &S.act[sig]);
		} else {
			S.act[sig].flags = 0;
			S.act[sig].mask = 0;
		}
	r3->altstack.ss_sp = 0;
	r3->altstack.ss_size = 0;
	r3->altstack.ss_flags = SS_DISABLE;
}

/* ----------------------------------------------------------- faults */

static uint64_t faults_logged;

void sbx_fault(struct dune_tf *tf, int sig, int code, uint64_t addr, const char *what)
{
	struct k_sigaction *ka = &S.act[sig];
	siginfo_t info;

	S.nfaults++;
	memset(&info, 0, sizeof(info));
	info.si_signo = sig;
	info.si_code = code;
	info.si_addr = (void *)(uintptr_t)addr;
	if (is_handler(ka->handler) && !(host_mask() & sigbit(sig))) {
		if (faults_logged < 16 || !(faults_logged & (faults_logged - 1)))
			sbx_log_event("fault", "\"what\":\"%s\",\"vector\":%llu,\"signal\":%d,\"rip\":\"0x%llx\",\"addr\":"
				      "\"0x%llx\",\"decision\":\"handler\",\"count\":%llu", what,
				      (unsigned long long)tf->trapno, sig, (unsigned long long)tf->rip,
				      (unsigned long long)addr, (unsigned long long)S.nfaults);
		faults_logged++;
		r3->at_syscall = false;
		if (!setup_frame(tf, sig, &info)) {
			if (r3->pending)
				sbx_deliver_pending(tf);
			return;
		}
		sig = SIGSEGV;	/* no room for the frame: as Linux, a SIGSEGV that cannot be caught */
	}
	sbx_log_event("fault", "\"what\":\"%s\",\"vector\":%llu,\"signal\":%d,\"rip\":\"0x%llx\",\"addr\":\"0x%llx\","
		      "\"decision\":\"kill\"", what, (unsigned long long)tf->trapno, sig, (unsigned long long)tf->rip,
		      (unsigned long long)addr);
	sbx_die_by_signal(sig);
}

/* ------------------------------------------------------- system calls */

static bool canonical_user(uint64_t v)
{
	return v < USER_TOP;
}

/*
 * The FPU state of a frame back into the save area ring 0 restores from.
 * As Linux, a state XRSTOR would refuse (MXCSR reserved bits, XSTATE_BV
 * beyond XCR0, a compacted or dirty header) is an error: the program gets a
 * SIGSEGV, ring 0 never executes XRSTOR on it.
 */
static int restore_fpu(struct dune_tf *tf, uint64_t fp)
{
	uint8_t *area = fpu_area(tf), *buf = r3->fpbuf;
	size_t size = 512;
	struct fpx_sw sw;
	uint64_t bv, hdr[8];
	uint32_t mxcsr;
	int i;

	if (!fp) {
		init_fpu(area);
		return 0;
	}
	if ((fp & 63) || !buf)
		return -EFAULT;
	if (sbx_copy_in(buf, fp, 512))
		return -EFAULT;
	memcpy(&mxcsr, buf + 24, 4);
	if (mxcsr & ~S.mxcsr_mask)
		return -EINVAL;
	if (S.fpu_mode == 2) {
		uint32_t m2 = 0;

		memcpy(&sw, buf + 464, sizeof(sw));
		memset(buf + 512, 0, S.fpu_size - 512);
		bv = 3;	/* legacy area only: x87 and SSE */
		if (sw.magic1 == FP_XSTATE_MAGIC1 && sw.xstate_size >= 576 && sw.xstate_size <= S.fpu_size &&
		    sw.extended_size == sw.xstate_size + 4 && !sbx_copy_in(&m2, fp + sw.xstate_size, 4) &&
		    m2 == FP_XSTATE_MAGIC2) {
			if (sbx_copy_in(buf, fp, sw.xstate_size))
				return -EFAULT;
			memcpy(hdr, buf + 512, sizeof(hdr));
			if ((hdr[0] & ~(sw.xfeatures & S.xcr0)) || hdr[1])
				return -EINVAL;	/* components the CPU does not have; a compacted image */
			for (i = 2; i < 8; i++)
				if (hdr[i])
					return -EINVAL;
			bv = hdr[0];
		}
		/* (already valid; written out again so nothing but what was checked reaches XRSTOR) */
		memset(buf + 512, 0, 64);
		bv &= S.xcr0;
		memcpy(buf + 512, &bv, 8);
		size = S.fpu_size;
	}
	mxcsr &= S.mxcsr_mask;
	memcpy(buf + 24, &mxcsr, 4);
	memcpy(area, buf, size);
	return 0;
}

static void do_sigreturn(struct dune_tf *tf)
{
	struct k_ucontext uc;
	struct k_sigcontext *mc = &uc.uc_mcontext;
	uint64_t ucp = tf->rsp;
	const char *why = NULL;

	r3->at_syscall = false;
	if (sbx_copy_in(&uc, ucp, sizeof(uc)))
		why = "the frame is not in the program's memory";
	else if (!canonical_user(mc->rip) || !canonical_user(mc->rsp))
		why = "rip or rsp outside user space";
	else if ((mc->cs | 3) != 0x33)
		why = "a code segment other than the program's (Linux's IRET would fault too)";
	else if (restore_fpu(tf, mc->fpstate))
		why = "FPU state that XRSTOR would refuse, or not in the program's memory";
	if (why) {
		sbx_log_event("sigreturn", "\"decision\":\"kill\",\"reason\":\"%s\",\"rsp\":\"0x%llx\"", why,
			      (unsigned long long)ucp);
		sbx_die_by_signal(SIGSEGV);
	}
	tf->r8 = mc->r8; tf->r9 = mc->r9; tf->r10 = mc->r10; tf->r11 = mc->r11;
	tf->r12 = mc->r12; tf->r13 = mc->r13; tf->r14 = mc->r14; tf->r15 = mc->r15;
	tf->rdi = mc->rdi; tf->rsi = mc->rsi; tf->rbp = mc->rbp; tf->rbx = mc->rbx;
	tf->rdx = mc->rdx; tf->rax = mc->rax; tf->rcx = mc->rcx; tf->rsp = mc->rsp;
	tf->rip = mc->rip;
	tf->rflags = (tf->rflags & ~EFL_FIX) | (mc->eflags & EFL_FIX) | EFL_IF;
	/* cs was checked; ss stays the program's (0x2b) whatever the frame says */
	set_host_mask(uc.uc_sigmask);
	if (!on_altstack(tf->rsp)) {
		const struct k_stack *s = &uc.uc_stack;

		if (s->ss_flags & SS_DISABLE) {
			r3->altstack.ss_sp = r3->altstack.ss_size = 0;
			r3->altstack.ss_flags = SS_DISABLE;
		} else if (s->ss_size >= MINSIGSTK) {
			r3->altstack.ss_sp = s->ss_sp;
			r3->altstack.ss_size = s->ss_size;
			r3->altstack.ss_flags = s->ss_flags & SS_AUTODISARM;
		}
	}
}

static long do_sigaction(int sig, uint64_t act, uint64_t oact, uint64_t size)
{
	struct k_sigaction nka, old;
	long r;

	if (size != 8 || sig < 1 || sig > 64)
		return -EINVAL;
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	if (act && sbx_copy_in(&nka, act, sizeof(nka)))
		return -EFAULT;
	sbx_lock();
	old = S.act[sig];
	if (act) {
		if (is_handler(nka.handler) && sig > DUNE_MAX_SIGNAL) {
			sbx_unlock();
			sbx_log_event("signal", "\"signal\":%d,\"decision\":\"deny\",\"reason\":\"no interrupt vector for "
				      "signals above %d: handlers cannot be delivered\"", sig, DUNE_MAX_SIGNAL);
			return -EINVAL;
		}
		nka.mask &= ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
		if (is_handler(nka.handler) != is_handler(old.handler) || !is_handler(nka.handler) ||
		    ((nka.flags ^ old.flags) & (SA_NOCLDSTOP | SA_NOCLDWAIT))) {
			r = host_disposition(sig, &nka);
			if (r) {
				sbx_unlock();
				return r;
			}
		}
		S.act[sig] = nka;
	}
	sbx_unlock();
	if (oact && sbx_copy_out(oact, &old, sizeof(old)))
		return -EFAULT;
	return 0;
}

static long do_sigaltstack(struct dune_tf *tf, uint64_t ss, uint64_t oss)
{
	struct k_stack n, o = r3->altstack;

	if (oss) {
		if (o.ss_flags & SS_DISABLE)
			o.ss_sp = o.ss_size = 0;
		else if (on_altstack(tf->rsp))
			o.ss_flags = SS_ONSTACK | (o.ss_flags & SS_AUTODISARM);
		if (sbx_copy_out(oss, &o, sizeof(o)))
			return -EFAULT;
	}
	if (!ss)
		return 0;
	if (sbx_copy_in(&n, ss, sizeof(n)))
		return -EFAULT;
	if (on_altstack(tf->rsp))
		return -EPERM;
	switch (n.ss_flags & ~SS_AUTODISARM) {
	case SS_DISABLE:
		r3->altstack.ss_sp = r3->altstack.ss_size = 0;
		r3->altstack.ss_flags = SS_DISABLE;
		return 0;
	case 0:
	case SS_ONSTACK:
		break;
	default:
		return -EINVAL;
	}
	if (n.ss_size < MINSIGSTK)
		return -ENOMEM;
	r3->altstack.ss_sp = n.ss_sp;
	r3->altstack.ss_size = n.ss_size;
	r3->altstack.ss_flags = n.ss_flags & SS_AUTODISARM;
	return 0;
}

/* Signals go to the program itself and its own children only. */
bool sbx_signal_target_ok(long pid)
{
	int i;

	if (pid == S.pid)
		return true;
	if (pid == 0 || pid == -(long)S.pid)
		return getpgrp() == S.pid;	/* its own process group, if it leads one */
	if (pid < -1)
		pid = -pid;
	for (i = 0; i < S.nchildren; i++)
		if (S.children[i] == pid)
			return true;
	return false;
}

static void note_self(long pid, int sig, int code)
{
	if (pid == S.pid && sig > 0 && sig <= 64) {
		siginfo_t *i = &r3->info[sig];

		memset(i, 0, sizeof(*i));
		i->si_signo = sig;
		i->si_code = code;
		i->si_pid = S.pid;
		i->si_uid = getuid();
		r3->self_sent |= 1ULL << sig;
	}
}

void sbx_sig_syscall(struct dune_tf *tf)
{
	long nr = (long)tf->rax, r;
	const struct sc_desc *d = sbx_syscall((uint64_t)nr);

	switch (nr) {
	case SYS_rt_sigreturn:
		do_sigreturn(tf);
		return;		/* every register is the restored context's, rax included */
	case SYS_rt_sigaction:
		r = do_sigaction((int)tf->rdi, tf->rsi, tf->rdx, tf->r10);
		break;
	case SYS_sigaltstack:
		r = do_sigaltstack(tf, tf->rdi, tf->rsi);
		break;
	case SYS_kill:
	case SYS_rt_sigqueueinfo:
		if (!sbx_signal_target_ok((long)(int)tf->rdi)) {
			S.ndenied++;
			sbx_log_syscall(tf, d, "deny", -EPERM, "signal to a process outside the sandbox");
			r = -EPERM;
			break;
		}
		note_self((long)(int)tf->rdi, (int)tf->rsi, nr == SYS_kill ? SI_USER : SI_QUEUE);
		if (nr == SYS_kill)
			r = syscall(SYS_kill, (int)tf->rdi, (int)tf->rsi) ? -errno : 0;
		else
			sbx_generic(tf, d), r = (long)tf->rax;
		break;
	case SYS_tkill:
		/* tkill names no thread group: made a tgkill on our own, which the kernel checks */
		note_self(S.pid, (int)tf->rsi, SI_TKILL);
		r = syscall(SYS_tgkill, S.pid, (int)tf->rdi, (int)tf->rsi) ? -errno : 0;
		break;
	case SYS_tgkill:
	case SYS_rt_tgsigqueueinfo:
		/* any thread of ours (the kernel checks tid belongs to tgid), or a child's main thread */
		if ((int)tf->rdi != S.pid &&
		    !(sbx_signal_target_ok((long)(int)tf->rdi) && tf->rdi == tf->rsi)) {
			S.ndenied++;
			sbx_log_syscall(tf, d, "deny", -EPERM, "signal to a thread outside the sandbox");
			r = -EPERM;
			break;
		}
		if ((int)tf->rsi == r3->tid)
			note_self((long)(int)tf->rdi, (int)tf->rdx, nr == SYS_tgkill ? SI_TKILL : SI_QUEUE);
		if (nr == SYS_tgkill)
			r = syscall(SYS_tgkill, (int)tf->rdi, (int)tf->rsi, (int)tf->rdx) ? -errno : 0;
		else
			sbx_generic(tf, d), r = (long)tf->rax;
		break;
	default:
		sbx_generic(tf, d);
		return;
	}
	SET_RET(tf, r);
}
