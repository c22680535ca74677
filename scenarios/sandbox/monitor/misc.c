/*
 * misc.c - calls whose arguments depend on a sub-command (ioctl, fcntl,
 * prctl, futex, ...) or that touch state the monitor owns (descriptors,
 * limits, the TLS base, the thread id word).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <asm/prctl.h>

#include "sbx.h"

#define CLOSE_RANGE_CLOEXEC	(1U << 2)

static void deny(struct dune_tf *tf, const struct sc_desc *d, long err, const char *why)
{
	S.ndenied++;
	sbx_log_syscall(tf, d, "deny", err, why);
	SET_RET(tf, err);
}

static long sys(long nr, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(nr, a, b, c, d, e, f);

	return r < 0 ? -errno : r;
}

/* Pass the call on if ptr (size bytes, NULL allowed) is the program's. */
static void with_ptr(struct dune_tf *tf, uint64_t ptr, size_t size)
{
	if (ptr && !sbx_range_ok(&S.ua, ptr, size)) {
		SET_RET(tf, -EFAULT);
		return;
	}
	SET_RET(tf, sbx_r3call((long)tf->rax, (long)tf->rdi, (long)tf->rsi, (long)tf->rdx, (long)tf->r10,
			       (long)tf->r8, (long)tf->r9));
}

/* ---------------------------------------------------------------- ioctl */

static void do_ioctl(struct dune_tf *tf, const struct sc_desc *d)
{
	int fd = (int)tf->rdi;
	unsigned long req = (unsigned int)tf->rsi;
	size_t size;

	if (sbx_is_monitor_fd(fd)) {
		deny(tf, d, -EBADF, "a descriptor of the monitor");
		return;
	}
	switch (req) {
	case TCGETS: case TCSETS: case TCSETSW: case TCSETSF:
		size = 36;	/* struct termios (kernel) */
		break;
	case TIOCGWINSZ: case TIOCSWINSZ:
		size = sizeof(struct winsize);
		break;
	case TIOCGPGRP: case TIOCSPGRP: case FIONREAD: case FIONBIO: case FIOASYNC: case TIOCOUTQ:
	case TIOCGSID:
		size = sizeof(int);
		break;
	case FIOCLEX: case FIONCLEX: case TCFLSH: case TCXONC: case TCSBRK: case TCSBRKP:
		SET_RET(tf, sys(SYS_ioctl, fd, (long)req, (long)tf->rdx, 0, 0, 0));
		return;
	case TIOCGPTN:
		size = sizeof(unsigned int);
		break;
	default:
		/* TIOCSTI (typing into the terminal), device ioctls with pointers inside, ... */
		deny(tf, d, -ENOTTY, "ioctl request not offered");
		return;
	}
	with_ptr(tf, tf->rdx, size);
}

/* ---------------------------------------------------------------- fcntl */

static void do_fcntl(struct dune_tf *tf, const struct sc_desc *d)
{
	int fd = (int)tf->rdi, cmd = (int)tf->rsi;
	long r;

	if (sbx_is_monitor_fd(fd)) {
		deny(tf, d, -EBADF, "a descriptor of the monitor");
		return;
	}
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if ((long)tf->rdx >= SBX_FD_BASE) {
			SET_RET(tf, -EINVAL);	/* the top of the table is the monitor's (as past RLIMIT_NOFILE) */
			return;
		}
		r = sys(SYS_fcntl, fd, cmd, (long)tf->rdx, 0, 0, 0);
		if (r >= 0 && sbx_is_monitor_fd((int)r)) {	/* not possible: those numbers are taken */
			close((int)r);
			r = -EMFILE;
		}
		if (r >= 0)
			sbx_set_wfd((int)r, sbx_wfd(fd));
		SET_RET(tf, r);
		return;
	case F_GETFD: case F_SETFD: case F_GETFL: case F_SETFL: case F_GETOWN: case F_SETSIG: case F_GETSIG:
	case F_SETLEASE: case F_GETLEASE: case F_NOTIFY: case F_SETPIPE_SZ: case F_GETPIPE_SZ:
	case F_ADD_SEALS: case F_GET_SEALS:
		SET_RET(tf, sys(SYS_fcntl, fd, cmd, (long)tf->rdx, 0, 0, 0));
		return;
	case F_SETOWN:
		if (tf->rdx && !sbx_signal_target_ok((long)(int)tf->rdx)) {
			deny(tf, d, -EPERM, "SIGIO to a process outside the sandbox");
			return;
		}
		SET_RET(tf, sys(SYS_fcntl, fd, cmd, (long)tf->rdx, 0, 0, 0));
		return;
	case F_GETLK: case F_SETLK: case F_SETLKW: case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
		with_ptr(tf, tf->rdx, 32);	/* struct flock */
		return;
	case F_GETOWN_EX:
		with_ptr(tf, tf->rdx, 8);
		return;
	case F_SETOWN_EX: {
		struct f_owner_ex o;

		if (sbx_copy_in(&o, tf->rdx, sizeof(o))) {
			SET_RET(tf, -EFAULT);
			return;
		}
		if (o.pid && !sbx_signal_target_ok(o.type == F_OWNER_PGRP ? -(long)o.pid : (long)o.pid)) {
			deny(tf, d, -EPERM, "SIGIO to a process outside the sandbox");
			return;
		}
		SET_RET(tf, sys(SYS_fcntl, fd, cmd, (long)&o, 0, 0, 0));
		return;
	}
	case 1035: case 1036: case 1037: case 1038:	/* F_{GET,SET}{,_FILE}_RW_HINT */
		with_ptr(tf, tf->rdx, 8);
		return;
	default:
		SET_RET(tf, -EINVAL);
		return;
	}
}

/* ---------------------------------------------------------------- prctl */

static void do_prctl(struct dune_tf *tf, const struct sc_desc *d)
{
	int opt = (int)tf->rdi;

	switch (opt) {
	case PR_SET_NAME:
	case PR_GET_NAME:
		with_ptr(tf, tf->rsi, 16);
		return;
	case PR_GET_PDEATHSIG:
	case PR_GET_CHILD_SUBREAPER:
		with_ptr(tf, tf->rsi, sizeof(int));
		return;
	case PR_SET_PDEATHSIG: case PR_GET_DUMPABLE: case PR_GET_SECCOMP: case PR_CAPBSET_READ:
	case PR_GET_TIMERSLACK: case PR_SET_TIMERSLACK: case PR_SET_CHILD_SUBREAPER: case PR_GET_NO_NEW_PRIVS:
	case PR_GET_THP_DISABLE: case PR_SET_THP_DISABLE: case PR_GET_KEEPCAPS: case PR_MCE_KILL_GET:
	case PR_GET_TIMING:
		SET_RET(tf, sys(SYS_prctl, opt, (long)tf->rsi, (long)tf->rdx, (long)tf->r10, (long)tf->r8, 0));
		return;
	case PR_SET_NO_NEW_PRIVS:
		SET_RET(tf, tf->rsi == 1 ? 0 : -EINVAL);	/* the monitor runs no setuid programs anyway */
		return;
	case PR_GET_TID_ADDRESS:
		SET_RET(tf, sbx_copy_out(tf->rsi, &r3->clear_tid, 8) ? -EFAULT : 0);
		return;
	case PR_CAP_AMBIENT:
		if (tf->rsi == PR_CAP_AMBIENT_IS_SET) {
			SET_RET(tf, sys(SYS_prctl, opt, (long)tf->rsi, (long)tf->rdx, 0, 0, 0));
			return;
		}
		break;
	case 0x53564d41: {	/* PR_SET_VMA: naming the program's own anonymous memory */
		uint64_t a = tf->rdx, len = tf->r10;

		if (tf->rsi != 0 || !arena_contains(&S.ar, a, a + len) || a + len < a) {
			SET_RET(tf, -EINVAL);
			return;
		}
		if (tf->r8) {
			int err = 0;
			char *name = sbx_copy_string(&S.ua, tf->r8, 80, &err);

			if (!name) {
				SET_RET(tf, err);
				return;
			}
			SET_RET(tf, sys(SYS_prctl, opt, 0, (long)a, (long)len, (long)name, 0));
			free(name);
			return;
		}
		SET_RET(tf, sys(SYS_prctl, opt, 0, (long)a, (long)len, 0, 0));
		return;
	}
	default:
		break;
	}
	/* PR_SET_MM (the monitor's memory map), PR_SET_SECCOMP, PR_SET_DUMPABLE, ... */
	deny(tf, d, opt == PR_SET_MM || opt == PR_SET_SECCOMP ? -EPERM : -EINVAL, "prctl option not offered");
}

/* ---------------------------------------------------------------- limits */

static long set_limit(struct dune_tf *tf, const struct sc_desc *d, int res, uint64_t unew, uint64_t uold)
{
	struct rlimit nl;
	long r;

	if (unew) {
		if (sbx_copy_in(&nl, unew, sizeof(nl)))
			return -EFAULT;
		switch (res) {
		case RLIMIT_AS:
		case RLIMIT_DATA:
			deny(tf, d, -EPERM, "this limit would bind the monitor too (the policy's memory: limits the program)");
			return -EPERM;
		case RLIMIT_NOFILE:
			if (nl.rlim_cur < SBX_FD_LIMIT) {
				deny(tf, d, -EPERM, "descriptors up to 1023 are needed (the monitor's are at the top)");
				return -EPERM;
			}
			break;
		default:
			break;
		}
	}
	if (uold && !sbx_range_ok(&S.ua, uold, sizeof(struct rlimit)))
		return -EFAULT;
	r = sbx_r3call(SYS_prlimit64, 0, res, unew ? (long)&nl : 0, (long)uold, 0, 0);
	return r;
}

/* ---------------------------------------------------------------- futex */

static void do_futex(struct dune_tf *tf)
{
	int cmd = (int)tf->rsi & FUTEX_CMD_MASK;

	if (!sbx_range_ok(&S.ua, tf->rdi, 4) || !tf->rdi) {
		SET_RET(tf, -EFAULT);
		return;
	}
	switch (cmd) {
	case FUTEX_WAIT: case FUTEX_WAIT_BITSET: case FUTEX_LOCK_PI: case 13 /* FUTEX_LOCK_PI2 */:
		if (tf->r10 && !sbx_range_ok(&S.ua, tf->r10, 16)) {
			SET_RET(tf, -EFAULT);
			return;
		}
		break;
	case FUTEX_WAIT_REQUEUE_PI:
		if ((tf->r10 && !sbx_range_ok(&S.ua, tf->r10, 16)) || !sbx_range_ok(&S.ua, tf->r8, 4) || !tf->r8) {
			SET_RET(tf, -EFAULT);
			return;
		}
		break;
	case FUTEX_REQUEUE: case FUTEX_CMP_REQUEUE: case FUTEX_WAKE_OP: case FUTEX_CMP_REQUEUE_PI:
		if (!sbx_range_ok(&S.ua, tf->r8, 4) || !tf->r8) {
			SET_RET(tf, -EFAULT);
			return;
		}
		break;
	case FUTEX_WAKE: case FUTEX_WAKE_BITSET: case FUTEX_UNLOCK_PI: case FUTEX_TRYLOCK_PI:
		break;
	default:
		SET_RET(tf, -ENOSYS);
		return;
	}
	SET_RET(tf, sbx_r3call(SYS_futex, (long)tf->rdi, (long)tf->rsi, (long)tf->rdx, (long)tf->r10, (long)tf->r8,
			       (long)tf->r9));
}

/* ----------------------------------------------------- sigevent targets */

/*
 * A struct sigevent, copied to sev (the kernel gets the copy).  It signals
 * only the calling process: SIGEV_THREAD_ID must name a thread of the same
 * group, which the kernel checks itself.
 */
static int check_sigevent(uint64_t p, unsigned char sev[64])
{
	if (sbx_copy_in(sev, p, 64))
		return -EFAULT;
	return 0;
}

/* --------------------------------------------------------- descriptors */

static void do_close(struct dune_tf *tf, const struct sc_desc *d)
{
	int fd = (int)tf->rdi;
	long r;

	if (sbx_is_monitor_fd(fd)) {
		deny(tf, d, -EBADF, "a descriptor of the monitor");
		return;
	}
	r = sys(SYS_close, fd, 0, 0, 0, 0, 0);
	if (!r || r == -EINTR)
		sbx_set_wfd(fd, false);
	SET_RET(tf, r);
}

static bool mon(unsigned fd)
{
	return fd < SBX_FD_LIMIT && sbx_is_monitor_fd((int)fd);
}

/* close_range over the program's fds only: the runs between the monitor's */
static void do_close_range(struct dune_tf *tf)
{
	unsigned first = (unsigned)tf->rdi, last = (unsigned)tf->rsi, flags = (unsigned)tf->rdx, fd = first, run, k;
	long r = 0;

	if (first > last) {
		SET_RET(tf, -EINVAL);
		return;
	}
	while (fd <= last) {
		if (mon(fd)) {
			if (fd == last)
				break;
			fd++;
			continue;
		}
		run = fd;
		while (run < last && !mon(run + 1)) {
			if (run + 1 >= SBX_FD_LIMIT) {
				run = last;	/* no monitor fds above the limit */
				break;
			}
			run++;
		}
		r = sys(SYS_close_range, fd, run, flags, 0, 0, 0);
		if (r)
			break;
		if (!(flags & CLOSE_RANGE_CLOEXEC))
			for (k = fd; k <= run && k < SBX_FD_LIMIT; k++)
				sbx_set_wfd((int)k, false);
		if (run >= last)
			break;
		fd = run + 1;
	}
	SET_RET(tf, r);
}

static void do_pipe(struct dune_tf *tf)
{
	int fds[2];
	long r;

	if (!tf->rdi || !sbx_range_ok(&S.ua, tf->rdi, sizeof(fds))) {
		SET_RET(tf, -EFAULT);
		return;
	}
	r = sys(SYS_pipe2, (long)fds, tf->rax == SYS_pipe2 ? (long)tf->rsi : 0, 0, 0, 0, 0);
	if (!r) {
		if (sbx_copy_out(tf->rdi, fds, sizeof(fds))) {
			close(fds[0]);
			close(fds[1]);
			r = -EFAULT;
		} else {
			sbx_set_wfd(fds[0], true);
			sbx_set_wfd(fds[1], true);
		}
	}
	SET_RET(tf, r);
}

/* ---------------------------------------------------- targets of sched_* */

static bool self_or_child(long pid)
{
	return pid == 0 || pid == S.pid || pid == r3->tid || sbx_signal_target_ok(pid);
}

void sbx_misc_syscall(struct dune_tf *tf, const struct sc_desc *d)
{
	long nr = (long)tf->rax;

	switch (nr) {
	case SYS_ioctl:
		do_ioctl(tf, d);
		return;
	case SYS_fcntl:
		do_fcntl(tf, d);
		return;
	case SYS_prctl:
		do_prctl(tf, d);
		return;
	case SYS_close:
		do_close(tf, d);
		return;
	case SYS_close_range:
		do_close_range(tf);
		return;
	case SYS_pipe:
	case SYS_pipe2:
		do_pipe(tf);
		return;
	case SYS_fchdir:
		SET_RET(tf, sbx_fchdir((int)tf->rdi));
		return;
	case SYS_arch_prctl:
		switch ((int)tf->rdi) {
		case ARCH_SET_FS:
			SET_RET(tf, dune_set_ring3_fs(tf->rsi) ? -EPERM : 0);
			return;
		case ARCH_GET_FS: {
			uint64_t fs = dune_get_ring3_fs();

			SET_RET(tf, sbx_copy_out(tf->rsi, &fs, 8) ? -EFAULT : 0);
			return;
		}
		default:
			SET_RET(tf, -EINVAL);	/* GS belongs to the monitor's entry code; no CPUID faulting */
			return;
		}
	case SYS_set_tid_address:
		r3->clear_tid = tf->rdi;
		SET_RET(tf, r3->tid);
		return;
	case SYS_set_robust_list:
	case SYS_rseq:
		SET_RET(tf, -ENOSYS);	/* per-thread kernel registrations of the host thread; glibc copes */
		return;
	case SYS_futex:
		do_futex(tf);
		return;
	case SYS_prlimit64:
		if (tf->rdi && (pid_t)tf->rdi != S.pid) {
			deny(tf, d, -EPERM, "limits of a process outside the sandbox");
			return;
		}
		SET_RET(tf, set_limit(tf, d, (int)tf->rsi, tf->rdx, tf->r10));
		return;
	case SYS_setrlimit:
		SET_RET(tf, set_limit(tf, d, (int)tf->rdi, tf->rsi, 0));
		return;
	case SYS_personality:
		if ((unsigned)tf->rdi == 0xffffffffU || tf->rdi == 0) {
			SET_RET(tf, sys(SYS_personality, (long)tf->rdi, 0, 0, 0, 0, 0));
			return;
		}
		deny(tf, d, -EPERM, "personality flags change how the host maps memory");
		return;
	case SYS_timer_create: {
		unsigned char sev[64];
		int r;

		if (tf->rsi) {
			r = check_sigevent(tf->rsi, sev);
			if (r) {
				if (r == -EPERM)
					deny(tf, d, r, "timer signals a thread outside the sandbox");
				else
					SET_RET(tf, r);
				return;
			}
		}
		if (!tf->rdx || !sbx_range_ok(&S.ua, tf->rdx, 4)) {
			SET_RET(tf, -EFAULT);
			return;
		}
		SET_RET(tf, sys(SYS_timer_create, (long)tf->rdi, tf->rsi ? (long)sev : 0, (long)tf->rdx, 0, 0, 0));
		return;
	}
	case SYS_mq_notify: {
		unsigned char sev[64];
		int r;

		if (sbx_is_monitor_fd((int)tf->rdi)) {
			SET_RET(tf, -EBADF);
			return;
		}
		if (tf->rsi) {
			r = check_sigevent(tf->rsi, sev);
			if (r) {
				SET_RET(tf, r);
				return;
			}
		}
		SET_RET(tf, sys(SYS_mq_notify, (long)tf->rdi, tf->rsi ? (long)sev : 0, 0, 0, 0, 0));
		return;
	}
	case SYS_msgsnd:
	case SYS_msgrcv: {
		uint64_t sz = tf->rdx;

		if (sz > (1ULL << 31) || !sbx_range_ok(&S.ua, tf->rsi, 8 + sz) || !tf->rsi) {
			SET_RET(tf, sz > (1ULL << 31) ? -EINVAL : -EFAULT);
			return;
		}
		SET_RET(tf, sbx_r3call(nr, (long)tf->rdi, (long)tf->rsi, (long)tf->rdx, (long)tf->r10, (long)tf->r8, 0));
		return;
	}
	case SYS_semctl: {
		int cmd = (int)tf->rdx & 0xff;
		size_t size = 0;

		switch (cmd) {
		case IPC_RMID: case GETVAL: case GETPID: case GETNCNT: case GETZCNT: case SETVAL:
			break;
		case IPC_SET: case IPC_STAT: case SEM_STAT: case SEM_STAT_ANY:
			size = 104;	/* struct semid64_ds */
			break;
		case IPC_INFO: case SEM_INFO:
			size = 40;	/* struct seminfo */
			break;
		default:
			deny(tf, d, -EINVAL, "semctl GETALL/SETALL are not offered");
			return;
		}
		if (size && (!tf->r10 || !sbx_range_ok(&S.ua, tf->r10, size))) {
			SET_RET(tf, -EFAULT);
			return;
		}
		SET_RET(tf, sys(SYS_semctl, (long)tf->rdi, (long)tf->rsi, (long)tf->rdx, (long)tf->r10, 0, 0));
		return;
	}
	case SYS_pselect6: {
		struct { uint64_t ss, len; } sm;
		struct sbx_checked c;
		uint64_t args[6], set;
		long r;

		args_of(tf, args);
		r = sbx_check(d, args, &S.ua, &c);
		if (!r && tf->r9) {
			if (sbx_copy_in(&sm, tf->r9, sizeof(sm)))
				r = -EFAULT;
			else if (sm.ss && sm.len == 8 && sbx_copy_in(&set, sm.ss, 8))
				r = -EFAULT;
			else if (sm.ss && sm.len == 8)
				sm.ss = (uintptr_t)&set;
			c.a[5] = (uintptr_t)&sm;
		}
		if (!r)
			r = sbx_host(tf, &c);
		sbx_checked_free(&c);
		SET_RET(tf, r);
		return;
	}
	case SYS_sched_setaffinity:
	case SYS_sched_setparam:
	case SYS_sched_setscheduler:
	case SYS_sched_setattr:
		if (!self_or_child((long)(int)tf->rdi)) {
			deny(tf, d, -EPERM, "scheduling of a process outside the sandbox");
			return;
		}
		if (nr == SYS_sched_setattr) {
			uint32_t size = 0;

			if (sbx_copy_in(&size, tf->rsi, 4) || size > 4096 || !sbx_range_ok(&S.ua, tf->rsi, size ? size : 48)) {
				SET_RET(tf, -EFAULT);
				return;
			}
			SET_RET(tf, sbx_r3call(nr, (long)tf->rdi, (long)tf->rsi, (long)tf->rdx, 0, 0, 0));
			return;
		}
		sbx_generic(tf, d);
		return;
	case SYS_setpriority:
	case SYS_ioprio_set:
		if (!((nr == SYS_setpriority && tf->rdi == PRIO_PROCESS) || (nr == SYS_ioprio_set && tf->rdi == 1)) ||
		    !self_or_child((long)(int)tf->rsi)) {
			deny(tf, d, -EPERM, "priority of a process outside the sandbox");
			return;
		}
		sbx_generic(tf, d);
		return;
	case SYS_mq_open:
	case SYS_vmsplice:
	default:
		sbx_generic(tf, d);
		return;
	}
}
