/*
 * sandbox.c - dune-sandbox: run an unmodified Linux program in ring 3 of a
 * Dune process under a policy.
 *
 *   dune-sandbox [--policy NAME|FILE] [--log FILE] [--verify] [--stats] [--] PROGRAM [ARGS...]
 *
 * The monitor (this program, linked far above the program's arena) enters
 * Dune mode, reserves the arena, loads PROGRAM (and its ELF interpreter)
 * into it and runs it at CPL3.  Every SYSCALL the program makes arrives in
 * on_syscall() in ring 0: the policy decides, the arguments are checked by
 * signature (check.c), paths are resolved beneath the policy's directories
 * (paths.c), memory calls are confined to the arena (mm.c), and only then
 * does the call reach the host kernel, as a VMCALL.  Faults become the
 * program's signals (fault.c, signals.c).  The program's exit status or
 * fatal signal is the sandbox's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>

#include "sbx.h"

struct sbx S;
__thread struct r3thread *r3;
struct r3thread sbx_main_r3;
static int fd_base = SBX_FD_BASE;

extern char **environ;

/* ------------------------------------------------------------ logging */

static __thread char logbuf[8192];
static __thread size_t loglen;

static void lb_raw(const char *s, size_t n)
{
	if (n > sizeof(logbuf) - 2 - loglen)
		n = sizeof(logbuf) - 2 - loglen;
	memcpy(logbuf + loglen, s, n);
	loglen += n;
}

static void lb_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lb_fmt(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(logbuf + loglen, sizeof(logbuf) - 2 - loglen, fmt, ap);
	va_end(ap);
	if (n > 0)
		loglen += (size_t)n < sizeof(logbuf) - 2 - loglen ? (size_t)n : sizeof(logbuf) - 2 - loglen;
}

static void lb_str(const char *s)
{
	lb_raw("\"", 1);
	for (; *s && loglen < sizeof(logbuf) - 16; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			lb_fmt("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			lb_fmt("\\u%04x", c);
		else
			lb_raw((const char *)&c, 1);
	}
	lb_raw("\"", 1);
}

static void lb_start(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	loglen = 0;
	lb_fmt("{\"time\":%lld.%06ld,\"pid\":%d", (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)S.pid);
}

static void lb_end(void)
{
	size_t off = 0;

	lb_raw("}\n", 2);
	if (S.log_fd < 0)
		return;
	while (off < loglen) {
		ssize_t n = write(S.log_fd, logbuf + off, loglen - off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
}

void sbx_log_event(const char *event, const char *fmt, ...)
{
	va_list ap;
	int n;

	lb_start();
	lb_raw(",\"event\":", 9);
	lb_str(event);
	if (fmt && *fmt) {
		lb_raw(",", 1);
		va_start(ap, fmt);
		n = vsnprintf(logbuf + loglen, sizeof(logbuf) - 2 - loglen, fmt, ap);
		va_end(ap);
		if (n > 0)
			loglen += (size_t)n < sizeof(logbuf) - 2 - loglen ? (size_t)n : sizeof(logbuf) - 2 - loglen;
	}
	lb_end();
}

static const char *errname(long e)
{
	static const struct { int e; const char *n; } t[] = {
		{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EBADF, "EBADF" }, { EFAULT, "EFAULT" },
		{ EACCES, "EACCES" }, { EINVAL, "EINVAL" }, { ENOMEM, "ENOMEM" }, { ENOSYS, "ENOSYS" },
		{ EAGAIN, "EAGAIN" }, { E2BIG, "E2BIG" }, { ENOTTY, "ENOTTY" }, { ENAMETOOLONG, "ENAMETOOLONG" },
		{ ELOOP, "ELOOP" }, { EAFNOSUPPORT, "EAFNOSUPPORT" }, { ENOTSUP, "ENOTSUP" }, { EEXIST, "EEXIST" },
		{ ENOEXEC, "ENOEXEC" }, { ESRCH, "ESRCH" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].e == e)
			return t[i].n;
	return "E?";
}

void sbx_log_syscall(const struct dune_tf *tf, const struct sc_desc *d, const char *decision, long err,
		     const char *reason)
{
	int i;

	lb_start();
	lb_raw(",\"syscall\":", 11);
	lb_str(d ? d->name : "unknown");
	lb_fmt(",\"nr\":%llu,\"args\":{", (unsigned long long)tf->rax);
	for (i = 0; d && i < d->nargs; i++) {
		const struct sc_arg *a = &d->args[i];
		uint64_t v = arg(tf, i);

		if (i)
			lb_raw(",", 1);
		lb_str(a->name);
		lb_raw(":", 1);
		if (a->kind == A_PATH || a->kind == A_STR) {
			int e = 0;
			char *s = v ? sbx_copy_string(&S.ua, v, 512, &e) : NULL;

			if (s)
				lb_str(s);
			else
				lb_fmt("\"0x%llx\"", (unsigned long long)v);
			free(s);
		} else if (a->kind == A_INT || a->kind == A_FD || a->kind == A_FD_W || a->kind == A_DIRFD ||
			   a->kind == A_NEWFD) {
			lb_fmt("%lld", (long long)v);
		} else {
			lb_fmt("\"0x%llx\"", (unsigned long long)v);
		}
	}
	if (!d)
		lb_fmt("\"rdi\":\"0x%llx\"", (unsigned long long)tf->rdi);
	lb_raw("},\"decision\":", 13);
	lb_str(decision);
	if (err)
		lb_fmt(",\"errno\":\"%s\"", errname(err < 0 ? -err : err));
	if (reason) {
		lb_raw(",\"reason\":", 10);
		lb_str(reason);
	}
	lb_end();
}

void sbx_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	lb_start();
	lb_raw(",\"event\":\"message\",\"message\":", 30);
	lb_str(buf);
	lb_end();
}

/* --------------------------------------------------------------- fds */

bool sbx_is_monitor_fd(int fd)
{
	return fd >= 0 && fd < SBX_FD_LIMIT && (S.fd_bits[fd / 64] >> (fd % 64) & 1);
}

static void set_bit(uint64_t *bits, int fd, bool v)
{
	if (fd < 0 || fd >= SBX_FD_LIMIT)
		return;
	if (v)
		__atomic_or_fetch(&bits[fd / 64], 1ULL << (fd % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_and_fetch(&bits[fd / 64], ~(1ULL << (fd % 64)), __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------------- lock */

/*
 * The monitor's state the program's threads share (its address-space map,
 * its dispositions, its children) is changed under one lock; calls that
 * may block never hold it.  A spinlock: the holders are short, and signal
 * vectors taken meanwhile never take it.
 */
void sbx_lock(void)
{
	while (__atomic_exchange_n(&S.lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&S.lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

void sbx_unlock(void)
{
	__atomic_store_n(&S.lock, 0, __ATOMIC_RELEASE);
}

void sbx_set_wfd(int fd, bool w)
{
	set_bit(S.wfd_bits, fd, w);
}

bool sbx_wfd(int fd)
{
	return fd >= 0 && fd < SBX_FD_LIMIT && (S.wfd_bits[fd / 64] >> (fd % 64) & 1);
}

/* Make fd the monitor's: moved to the reserved range (close-on-exec), out of the program's way. */
int sbx_keep_fd(int fd, void *ctx)
{
	int nfd;

	(void)ctx;
	if (fd < 0)
		return fd;
	if (fd >= fd_base && sbx_is_monitor_fd(fd))
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, fd_base);
	close(fd);
	if (nfd < 0)
		return -errno;
	if (nfd >= SBX_FD_LIMIT) {
		close(nfd);
		return -EMFILE;
	}
	set_bit(S.fd_bits, nfd, true);
	return nfd;
}

void sbx_drop_fd(int fd, void *ctx)
{
	(void)ctx;
	if (fd < 0)
		return;
	set_bit(S.fd_bits, fd, false);
	close(fd);
}

static bool ua_monitor_fd(int fd, void *ctx)
{
	(void)ctx;
	return sbx_is_monitor_fd(fd) || fd >= fd_base;
}

static bool ua_fd_writable(int fd, void *ctx)
{
	(void)ctx;
	return sbx_wfd(fd);
}

/* ------------------------------------------------ the program's memory */

extern int sbx_uaccess_copy(void *dst, const void *src, size_t n);

int sbx_copy_in(void *dst, uint64_t src, size_t n)
{
	if (!n)
		return 0;
	if (!sbx_range_ok(&S.ua, src, n))
		return -EFAULT;
	return sbx_uaccess_copy(dst, (const void *)(uintptr_t)src, n);
}

int sbx_copy_out(uint64_t dst, const void *src, size_t n)
{
	if (!n)
		return 0;
	if (!sbx_range_ok(&S.ua, dst, n))
		return -EFAULT;
	return sbx_uaccess_copy((void *)(uintptr_t)dst, src, n);
}

static int ua_copy_in(void *dst, uintptr_t src, size_t n, void *ctx)
{
	(void)ctx;
	return sbx_copy_in(dst, src, n);
}

static int ua_copy_out(uintptr_t dst, const void *src, size_t n, void *ctx)
{
	(void)ctx;
	return sbx_copy_out(dst, src, n);
}

/* ------------------------------------------------------- host calls */

/*
 * A host call made on the program's behalf: the trap frame libdune sees
 * says CPL3, so memory it maps is mirrored with PTE_U (the program's).
 */
long sbx_r3call(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	struct dune_tf t;

	memset(&t, 0, sizeof(t));
	t.cs = 0x33;
	t.ss = 0x2b;
	t.trapno = 0x100;	/* DUNE_TRAPNO_SYSCALL */
	t.rax = (uint64_t)nr;
	t.rdi = (uint64_t)a0;
	t.rsi = (uint64_t)a1;
	t.rdx = (uint64_t)a2;
	t.r10 = (uint64_t)a3;
	t.r8 = (uint64_t)a4;
	t.r9 = (uint64_t)a5;
	dune_passthrough_syscall(&t);
	return (long)t.rax;
}

long sbx_host(struct dune_tf *tf, const struct sbx_checked *c)
{
	return sbx_r3call((long)tf->rax, (long)c->a[0], (long)c->a[1], (long)c->a[2], (long)c->a[3],
			  (long)c->a[4], (long)c->a[5]);
}

void sbx_generic(struct dune_tf *tf, const struct sc_desc *d)
{
	struct sbx_checked c;
	uint64_t a[6];
	long ret;

	args_of(tf, a);
	ret = sbx_check(d, a, &S.ua, &c);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "argument '%s': %s", c.bad_arg >= 0 ? d->args[c.bad_arg].name : "?",
			 ret == -EFAULT ? "outside the program's memory" :
			 ret == -EBADF ? "a descriptor of the monitor" :
			 ret == -EPERM ? "descriptor not opened for writing by the policy" : "invalid");
		if (ret == -EFAULT || ret == -EBADF || ret == -EPERM) {
			S.ndenied++;
			sbx_log_syscall(tf, d, "deny", ret, why);
		}
		sbx_checked_free(&c);
		SET_RET(tf, ret);
		return;
	}
	ret = sbx_host(tf, &c);
	if (ret >= 0 && sbx_check_after(d, &c, &S.ua, ret))
		ret = -EFAULT;
	if (ret >= 0 && (d->flags & F_NEWFD)) {
		int nfd = (int)ret;

		if (d->args[1].kind == A_NEWFD)	/* dup2, dup3 */
			nfd = (int)(uint32_t)tf->rsi;
		if (tf->rax == SYS_dup || d->args[1].kind == A_NEWFD)
			sbx_set_wfd(nfd, sbx_wfd((int)(uint32_t)tf->rdi));
		else
			sbx_set_wfd(nfd, true);	/* pipes, sockets, eventfds...: not files of a read-only tree */
	}
	sbx_checked_free(&c);
	SET_RET(tf, ret);
}

/* ----------------------------------------------------------- dispatch */

static void deny(struct dune_tf *tf, const struct sc_desc *d, const char *why)
{
	S.ndenied++;
	sbx_log_syscall(tf, d, "deny", -EPERM, why);
	SET_RET(tf, -EPERM);
}

/*
 * Where libdune keeps ring 3's FPU/SSE/AVX state while this handler runs (and restores it from when
 * the handler returns): libdune's syscall path runs without saving the vector registers and calls a
 * registered handler through dune_fpu_call(), which saves them in a 64-byte-aligned area at its stack
 * pointer and calls the handler from there.  So the area starts just above this function's return
 * address: frame pointer + 16 (the monitor is built with frame pointers; on_syscall is only called
 * through the pointer).  Signal delivery and rt_sigreturn read and write ring 3's FPU state there.
 * Checked on every call before any floating point runs: the area's x87 control word and MXCSR must
 * be the live ones, so a change of that layout in libdune ends the sandbox with a message instead of
 * writing into the wrong stack slots.
 */
static __attribute__((noinline)) void syscall_fpu_area(void *frame)
{
	uint8_t *area = (uint8_t *)frame + 16;
	uint32_t mxcsr, saved_mxcsr;
	uint16_t fcw, saved_fcw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	memcpy(&saved_fcw, area, 2);
	memcpy(&saved_mxcsr, area + 24, 4);
	if (((uintptr_t)area & 63) || saved_fcw != fcw || saved_mxcsr != mxcsr) {
		dune_printf("dune-sandbox: libdune's system-call path does not keep ring 3's FPU state where "
			    "the monitor expects it (dune_fpu_call's area above the handler's return address)\n");
		sbx_exit(SBX_EXIT_ERROR);
	}
	r3->sys_fpu = area;
}

static void on_syscall(struct dune_tf *tf)
{
	const struct sc_desc *d;
	uint64_t nr = tf->rax;

	if (!(tf->cs & 3)) {
		dune_passthrough_syscall(tf);	/* the monitor's own calls (outside this handler) */
		return;
	}
	syscall_fpu_area(__builtin_frame_address(0));
	S.nsyscalls++;
	r3->sys_nr = (long)nr;
	r3->at_syscall = true;
	d = sbx_syscall(nr);
	if (!d) {
		sbx_log_syscall(tf, NULL, "deny", -ENOSYS, "no such system call");
		SET_RET(tf, -ENOSYS);
		goto out;
	}
	S.per_nr[nr]++;
	if (S.trace)
		sbx_log_syscall(tf, d, "trace", 0, NULL);
	if (d->flags & F_NOSYS) {
		SET_RET(tf, -ENOSYS);
		goto out;
	}
	if (d->group == G_NEVER || d->group == G_ADMIN) {
		deny(tf, d, d->group == G_NEVER ? "never allowed: would reach the monitor or the host"
						: "never allowed: administers the host");
		goto out;
	}
	switch (S.pol->action[nr]) {
	case ACT_ALLOW:
		break;
	case ACT_KILL:
		S.ndenied++;
		sbx_log_syscall(tf, d, "kill", 0, "policy: syscalls.kill");
		sbx_die_by_signal(SIGSYS);
	default:
		deny(tf, d, "policy: not allowed");
		goto out;
	}
	switch (d->group) {
	case G_MEMORY:
		if (d->flags & F_EMUL) {
			sbx_lock();
			sbx_mm_syscall(tf);
			sbx_unlock();
			goto out;
		}
		break;
	case G_IPC:
		if (nr == SYS_shmat || nr == SYS_shmdt) {
			sbx_lock();
			sbx_mm_syscall(tf);
			sbx_unlock();
			goto out;
		}
		break;
	case G_PROCESS:
		sbx_proc_syscall(tf, d);
		goto out;
	case G_SIGNAL:
		if (d->flags & (F_EMUL | F_SPECIAL)) {
			sbx_sig_syscall(tf);
			goto out;
		}
		break;
	case G_NETWORK:
		sbx_net_syscall(tf, d);
		goto out;
	default:
		break;
	}
	if (nr == SYS_exit || nr == SYS_exit_group) {
		sbx_proc_syscall(tf, d);
		goto out;
	}
	if (d->flags & F_PATH) {
		sbx_fs_syscall(tf, d);
		goto out;
	}
	if (d->flags & (F_EMUL | F_SPECIAL)) {
		sbx_misc_syscall(tf, d);
		goto out;
	}
	sbx_generic(tf, d);
out:
	if (r3 && r3->pending)
		sbx_deliver_pending(tf);
}

/* ----------------------------------------------------------- exiting */

void sbx_exit(int status)
{
	if (S.verify)
		sbx_verify_report("exit");
	if (S.stats)
		sbx_log_event("stats", "\"syscalls\":%llu,\"denied\":%llu,\"faults\":%llu,\"signals\":%llu,"
			      "\"paths_fast\":%llu,\"paths_slow\":%llu,\"dir_cache_hits\":%llu",
			      (unsigned long long)S.nsyscalls, (unsigned long long)S.ndenied,
			      (unsigned long long)S.nfaults, (unsigned long long)S.nsignals,
			      (unsigned long long)S.fs.fast, (unsigned long long)S.fs.slow,
			      (unsigned long long)S.fs.cache_hits);
	sbx_log_event("exit", "\"status\":%d", status & 0xff);
	if (S.nprocs)
		__atomic_sub_fetch(S.nprocs, 1, __ATOMIC_SEQ_CST);
	for (;;)
		syscall(SYS_exit_group, status & 0xff);
}

void sbx_die_by_signal(int sig)
{
	struct k_sigaction dfl = { 0, 0, 0, 0 };
	uint64_t set = 1ULL << (sig - 1);

	if (S.verify)
		sbx_verify_report("signal");
	sbx_log_event("exit", "\"signal\":%d", sig);
	if (S.nprocs)
		__atomic_sub_fetch(S.nprocs, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, 8);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
	/* SIGTRAP/SIGSYS & co. cannot be caught now: we are gone; if not, say so */
	for (;;)
		syscall(SYS_exit_group, 128 + sig);
}

/* --------------------------------------------------------- verification */

static uint64_t canary_data = 0x5a5a5a5a5a5a5a5aULL;
static uint64_t canary_bss;
static uint64_t *canary_heap;
static uint64_t canary_value;
static uint64_t text_hash, idt_hash, policy_hash;
static size_t text_bytes;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Hash every read-only segment of this program (text, rodata): they must never change. */
static uint64_t hash_text(size_t *bytes)
{
	const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM), i;
	uint64_t h = 0xcbf29ce484222325ULL, base = 0;

	*bytes = 0;
	for (i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			base = (uint64_t)(uintptr_t)ph - ph[i].p_vaddr;
	for (i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W))
			continue;
		h = fnv(h, (const void *)(uintptr_t)(ph[i].p_vaddr + base), ph[i].p_filesz);
		*bytes += ph[i].p_filesz;
	}
	return h;
}

static uint64_t hash_idt(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr;

	__asm__ volatile("sidt %0" : "=m"(idtr));
	return fnv(0xcbf29ce484222325ULL, (const void *)(uintptr_t)idtr.base, (size_t)idtr.limit + 1);
}

static uint64_t hash_policy(void)
{
	uint64_t h = fnv(0xcbf29ce484222325ULL, S.pol->action, sizeof(S.pol->action));
	int i;

	for (i = 0; i < S.pol->nprefixes; i++) {
		h = fnv(h, S.pol->prefixes[i].path, strlen(S.pol->prefixes[i].path));
		h = fnv(h, &S.pol->prefixes[i].write, 1);
	}
	h = fnv(h, &S.pol->memory, sizeof(S.pol->memory));
	h = fnv(h, &S.pol->network, sizeof(S.pol->network));
	return h;
}

struct ucount {
	uint64_t outside, inside;
	uint64_t first_outside;
};

static int count_user(const void *arg, ptent_t *pte, void *va)
{
	struct ucount *u = (struct ucount *)arg;
	uint64_t a = (uint64_t)(uintptr_t)va;

	if (!(*pte & PTE_U))
		return 0;
	if (a >= SBX_ARENA_LO && a < SBX_ARENA_HI && !(a >= SBX_HOLE_LO && a < SBX_HOLE_HI)) {
		u->inside++;
	} else {
		if (!u->outside)
			u->first_outside = a;
		u->outside++;
	}
	return 0;
}

static void verify_init(void)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = 0x1234567887654321ULL ^ (uint64_t)getpid();
	canary_value = r;
	canary_data = r ^ 1;
	canary_bss = r ^ 2;
	canary_heap = malloc(64);
	if (canary_heap)
		*canary_heap = r ^ 3;
	text_hash = hash_text(&text_bytes);
	idt_hash = hash_idt();
	policy_hash = hash_policy();
}

/*
 * The monitor checks itself: its code and read-only data, the IDT, its
 * policy and canaries in its data, bss and heap are unchanged, no page
 * outside the arena is reachable from ring 3 (PTE_U), and its descriptors
 * still name what they named.  One JSON line; "intact": true or false.
 */
void sbx_verify_report(const char *when)
{
	struct ucount u = { 0, 0, 0 };
	size_t bytes;
	bool text_ok = hash_text(&bytes) == text_hash, idt_ok = hash_idt() == idt_hash;
	bool pol_ok = hash_policy() == policy_hash;
	bool can_ok = canary_data == (canary_value ^ 1) && canary_bss == (canary_value ^ 2) &&
		      canary_heap && *canary_heap == (canary_value ^ 3);
	struct stat st;
	bool fds_ok = true;
	int fd;

	dune_vm_page_walk(pgroot, (void *)0, (void *)(1ULL << 47), count_user, &u);
	for (fd = 0; fd < SBX_FD_LIMIT; fd++)
		if (sbx_is_monitor_fd(fd) && fstat(fd, &st))
			fds_ok = false;
	sbx_log_event("verify", "\"when\":\"%s\",\"intact\":%s,\"text_ok\":%s,\"text_bytes\":%zu,\"idt_ok\":%s,"
		      "\"policy_ok\":%s,\"canaries_ok\":%s,\"monitor_fds_ok\":%s,\"user_pages_in_arena\":%llu,"
		      "\"user_pages_outside_arena\":%llu,\"first_outside\":\"0x%llx\"",
		      when, text_ok && idt_ok && pol_ok && can_ok && fds_ok && !u.outside ? "true" : "false",
		      text_ok ? "true" : "false", text_bytes, idt_ok ? "true" : "false", pol_ok ? "true" : "false",
		      can_ok ? "true" : "false", fds_ok ? "true" : "false", (unsigned long long)u.inside,
		      (unsigned long long)u.outside, (unsigned long long)u.first_outside);
}

/* ------------------------------------------------------------- startup */

/* PROT_NONE over the arena's two parts; the monitor's window in between is left alone. */
static int reserve_arena(void)
{
	static const uint64_t part[2][2] = { { SBX_ARENA_LO, SBX_HOLE_LO }, { SBX_HOLE_HI, SBX_ARENA_HI } };
	int i;

	for (i = 0; i < 2; i++) {
		void *p = mmap((void *)part[i][0], part[i][1] - part[i][0], PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

		if (p != (void *)part[i][0]) {
			if (p != MAP_FAILED) {
				munmap(p, part[i][1] - part[i][0]);
				errno = EEXIST;
			}
			return -1;
		}
	}
	return 0;
}

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: dune-sandbox [--policy NAME|FILE] [--log FILE] [--verify] [--stats] [--trace] [--] PROGRAM [ARGS...]\n"
		"  --policy  a built-in policy (default, strict, ...) or a YAML file (path with a '/')\n"
		"  --log     JSON lines: denied calls, faults, exit (default: stderr)\n"
		"  --verify  check the monitor's own memory and the page tables at exit (logged)\n"
		"  --stats   log counters at exit\n"
		"  --list-policies  print the built-in policies\n");
	exit(status);
}

static int find_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *p;
	int err = ENOENT;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; ) {
		const char *e = strchrnul(p, ':');
		struct stat st;

		snprintf(out, len, "%.*s%s%s", (int)(e - p), p, e == p ? "" : "/", name);
		if (!stat(out, &st) && S_ISREG(st.st_mode)) {
			if (!access(out, X_OK))
				return 0;
			err = EACCES;
		}
		if (!*e)
			break;
		p = e + 1;
	}
	return -err;
}

/*
 * libdune opens /dev/dune at the lowest free descriptor; the program
 * expects 3, 4, ... to be its own.  Fill the holes below fd_base first so
 * that the monitor's descriptor lands above them, then free them again.
 */
static int fill_low_fds(uint64_t *filled)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC), fd;

	if (null < 0)
		return -errno;
	set_bit(filled, null, true);
	while ((fd = fcntl(null, F_DUPFD_CLOEXEC, 0)) >= 0 && fd < fd_base)
		set_bit(filled, fd, true);
	if (fd >= 0)
		close(fd);
	return 0;
}

static void free_low_fds(uint64_t *filled)
{
	int fd;

	for (fd = 0; fd < SBX_FD_LIMIT; fd++)
		if (filled[fd / 64] >> (fd % 64) & 1)
			close(fd);
}

/*
 * Ring 3 must not reach a 32-bit code segment: SYSCALL from compatibility
 * mode jumps to CSTAR in ring 0 on the program's stack (libdune sets no
 * CSTAR), and the exception that follows would write its frame wherever
 * ring 3 pointed rsp.  libdune's GDT has one (0x23, for Linux-compatible
 * selectors); the monitor removes it on every vCPU it runs ring 3 on.
 */
void sbx_drop_compat_segment(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr;
	uint64_t *gdt;
	unsigned i;

	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	gdt = (uint64_t *)(uintptr_t)gdtr.base;
	for (i = 1; i < ((unsigned)gdtr.limit + 1) / 8; i++) {
		uint64_t e = gdt[i];
		bool present = e >> 47 & 1, s = e >> 44 & 1, code = e >> 43 & 1, dpl3 = (e >> 45 & 3) == 3;
		bool l = e >> 53 & 1;

		if (present && !s) {
			i++;	/* a system descriptor (the TSS) takes 16 bytes */
			continue;
		}
		if (present && s && code && dpl3 && !l)
			gdt[i] = 0;	/* not loaded in any segment register: safe to drop */
	}
}

static void fpu_info(void)
{
	uint32_t a, b, c, d;
	uint8_t fx[512] __attribute__((aligned(64)));

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if ((c & (1u << 26)) && (c & (1u << 27))) {
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xD), "c"(0));
		S.fpu_mode = 2;
		S.fpu_size = b;
		__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
		S.xcr0 = ((uint64_t)d << 32) | a;
	} else {
		S.fpu_mode = 1;
		S.fpu_size = 512;
		S.xcr0 = 3;
	}
	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsave64 %0" : "=m"(fx));
	memcpy(&S.mxcsr_mask, fx + 28, 4);
	if (!S.mxcsr_mask)
		S.mxcsr_mask = 0xffbf;
}

static void __attribute__((noreturn)) fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("dune-sandbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(status);
}

int main(int argc, char **argv)
{
	const char *policy = "default", *logfile = NULL;
	struct sbx_policy_error perr;
	char prog[4096], cwd[4096];
	uint64_t filled[SBX_FD_LIMIT / 64] = { 0 };
	struct rlimit rl;
	struct dune_tf tf;
	void *p;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (argv[i][0] != '-')
			break;
		if (!strcmp(argv[i], "--policy") && i + 1 < argc)
			policy = argv[++i];
		else if (!strncmp(argv[i], "--policy=", 9))
			policy = argv[i] + 9;
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			logfile = argv[++i];
		else if (!strncmp(argv[i], "--log=", 6))
			logfile = argv[i] + 6;
		else if (!strcmp(argv[i], "--verify"))
			S.verify = true;
		else if (!strcmp(argv[i], "--stats"))
			S.stats = true;
		else if (!strcmp(argv[i], "--trace"))
			S.trace = true;
		else if (!strcmp(argv[i], "--list-policies")) {
			for (r = 0; sbx_builtin_names[r]; r++)
				printf("# ---- %s\n%s\n", sbx_builtin_names[r], sbx_builtin_texts[r]);
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			usage(0);
		else
			usage(SBX_EXIT_ERROR);
	}
	if (i >= argc)
		usage(SBX_EXIT_ERROR);

	S.pol = sbx_policy_load(policy, &perr);
	if (!S.pol)
		fail(SBX_EXIT_ERROR, "%s", perr.msg);
	r = find_program(argv[i], prog, sizeof(prog));
	if (r)
		fail(r == -ENOENT ? SBX_EXIT_NOENT : SBX_EXIT_NOEXEC, "%s: %s", argv[i], strerror(-r));
	if (!getcwd(cwd, sizeof(cwd)))
		fail(SBX_EXIT_ERROR, "getcwd: %s", strerror(errno));
	S.pid = getpid();
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < SBX_FD_LIMIT)
		fd_base = rl.rlim_cur > 128 ? (int)rl.rlim_cur - 64 : 64;

	/* the log: a file, or a copy of stderr the program cannot close */
	S.log_fd = logfile ? open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
			   : fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (S.log_fd < 0)
		fail(SBX_EXIT_ERROR, "%s: %s", logfile ? logfile : "stderr", strerror(errno));

	/* live sandboxed processes, shared with fork children */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail(SBX_EXIT_ERROR, "mmap: %s", strerror(errno));
	S.nprocs = p;
	*S.nprocs = 1;

	/* the arena (both parts, around the monitor's window): reserved before anything can land there */
	if (reserve_arena())
		fail(SBX_EXIT_ERROR, "cannot reserve the program's arena %#llx-%#llx: %s (is the monitor linked at %#llx?)",
		     SBX_ARENA_LO, SBX_ARENA_HI, strerror(errno), SBX_MONITOR);
	arena_init(&S.ar, SBX_ARENA_LO, SBX_ARENA_HI);
	arena_set_hole(&S.ar, SBX_HOLE_LO, SBX_HOLE_HI);

	if (fill_low_fds(filled))
		fail(SBX_EXIT_ERROR, "/dev/null: %s", strerror(errno));
	r = dune_init(true);
	free_low_fds(filled);
	if (r)
		fail(SBX_EXIT_ERROR, "dune_init: %s (is dune.ko loaded?)", strerror(-r));
	for (r = fd_base; r < SBX_FD_LIMIT; r++)
		if (fcntl(r, F_GETFD) >= 0)
			set_bit(S.fd_bits, r, true);	/* libdune's /dev/dune */
	S.log_fd = sbx_keep_fd(S.log_fd, NULL);
	if (dune_va_to_pa((void *)(SBX_ARENA_HI - 1)) != SBX_ARENA_HI - 1 ||
	    dune_va_to_pa((void *)&S) != (uint64_t)(uintptr_t)&S)
		fail(SBX_EXIT_ERROR, "this CPU's guest-physical address space is too small for the sandbox's layout "
		     "(the arena up to %#llx and the monitor at %#llx must be identity-mapped)", SBX_ARENA_HI,
		     SBX_MONITOR);
	fpu_info();
	r = dune_enter();
	if (r)
		fail(SBX_EXIT_ERROR, "dune_enter: %s", strerror(-r));

	/* ---- ring 0 from here on ---- */
	sbx_drop_compat_segment();
	S.ua.lo = SBX_ARENA_LO;
	S.ua.hi = SBX_ARENA_HI;
	S.ua.hole_lo = SBX_HOLE_LO;
	S.ua.hole_hi = SBX_HOLE_HI;
	S.ua.copy_in = ua_copy_in;
	S.ua.copy_out = ua_copy_out;
	S.ua.monitor_fd = ua_monitor_fd;
	S.ua.fd_writable = ua_fd_writable;
	r3 = &sbx_main_r3;
	S.nthreads = 1;
	r3->altstack.ss_flags = SS_DISABLE;
	r3->tid = (int)syscall(SYS_gettid);
	for (r = 0; r < 3; r++)
		if (fcntl(r, F_GETFD) >= 0)
			sbx_set_wfd(r, true);	/* what the caller handed in is the program's to use */
	r = sbx_fs_init(&S.fs, S.pol, cwd, S.pid, sbx_keep_fd, sbx_drop_fd, NULL);
	if (r)
		fail(SBX_EXIT_ERROR, "opening the policy's directories: %s", strerror(-r));
	sbx_faults_init();
	sbx_signals_init();
	verify_init();
	dune_register_syscall_handler(on_syscall);

	r = sbx_load(prog, -1, argv + i, environ, &tf);
	if (r) {
		sbx_log_event("exec_failed", "\"path\":\"%s\",\"errno\":%d", prog, -r);
		fail(r == -ENOENT ? SBX_EXIT_NOENT : r == -EACCES || r == -ENOEXEC ? SBX_EXIT_NOEXEC : SBX_EXIT_ERROR,
		     "%s: %s", prog, r == -ENOEXEC ? "not an x86-64 ELF program (or its interpreter is not)"
						    : strerror(-r));
	}
	sbx_log_event("start", "\"program\":\"%s\",\"policy\":\"%s\"", prog, S.pol->name);
	r = dune_jump_to_user(&tf);
	/* every exit path of the program ends the process; getting here is a monitor bug */
	dune_printf("dune-sandbox: the user run ended unexpectedly (%d)\n", r);
	sbx_exit(SBX_EXIT_ERROR);
}
