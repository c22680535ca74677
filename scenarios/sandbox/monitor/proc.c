/*
 * proc.c - exit, fork and friends, execve.
 *
 * fork (and vfork, clone without CLONE_VM) is a fork of the whole Dune
 * process made from ring 0: libdune gives the child a fresh vCPU that
 * resumes right after the VMCALL, here, on the same ring-0 stack; the child
 * restores the one piece of ring-3 plumbing a fresh vCPU lacks (the
 * KERNEL_GS_BASE the entry stubs use) and returns 0 to the program.  The
 * child is a sandbox of its own with the same policy; the policy's
 * max_processes bounds how many are alive at once (a shared counter), so a
 * fork bomb ends in EAGAIN.  vfork is a fork (the parent does not wait).
 *
 * A thread (clone with CLONE_VM | CLONE_THREAD, policy threads: true) is a
 * thread of the monitor made with pthread_create in ring 0: libdune gives it
 * a vCPU, and it jumps to ring 3 at the clone's return with the program's
 * stack and TLS.  Every thread's system calls reach the same handler; each
 * has its own pending signals, sigaltstack and clear-child-tid word (written
 * and woken at its exit, as the kernel does).  The last thread's exit ends
 * the process.
 *
 * execve runs the new program inside the same sandbox: everything that
 * can fail is checked first (the file, through the policy; #! lines; the
 * ELF headers and interpreter), then the old image goes (the whole arena
 * becomes a reservation again), close-on-exec descriptors are closed,
 * handlers reset, and the new image is loaded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbx.h"
#include "load.h"

#define MSR_KERNEL_GS_BASE	0xC0000102
#define ARG_MAX_TOTAL		(2UL << 20)	/* Linux: a quarter of the 8 MiB stack */
#define ARG_MAX_STRLEN		(128UL << 10)	/* MAX_ARG_STRLEN */
#define ARG_MAX_COUNT		0x7FFFFFFF

static uint64_t rdmsr64(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static void wrmsr64(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static void deny(struct dune_tf *tf, const struct sc_desc *d, long err, const char *why)
{
	S.ndenied++;
	sbx_log_syscall(tf, d, "deny", err, why);
	SET_RET(tf, err);
}

/* ----------------------------------------------------------------- fork */

static long do_fork(struct dune_tf *tf, const struct sc_desc *d, unsigned long flags, uint64_t stack,
		    uint64_t ptid, uint64_t ctid)
{
	uint64_t kgs;
	long pid;
	int n;

	if (!S.pol->processes) {
		deny(tf, d, -EPERM, "policy: processes: false");
		return -EPERM;
	}
	n = __atomic_add_fetch(S.nprocs, 1, __ATOMIC_SEQ_CST);
	if (n > S.pol->max_processes) {
		__atomic_sub_fetch(S.nprocs, 1, __ATOMIC_SEQ_CST);
		sbx_log_event("limit", "\"what\":\"processes\",\"limit\":%d,\"decision\":\"deny\",\"errno\":\"EAGAIN\"",
			      S.pol->max_processes);
		return -EAGAIN;
	}
	if (S.nchildren == (int)(sizeof(S.children) / sizeof(S.children[0]))) {
		/* forget children that are gone */
		int i, k = 0;

		for (i = 0; i < S.nchildren; i++)
			if (!kill(S.children[i], 0) || errno != ESRCH)
				S.children[k++] = S.children[i];
		S.nchildren = k;
		if (k == (int)(sizeof(S.children) / sizeof(S.children[0]))) {
			__atomic_sub_fetch(S.nprocs, 1, __ATOMIC_SEQ_CST);
			return -EAGAIN;
		}
	}
	kgs = rdmsr64(MSR_KERNEL_GS_BASE);	/* &libdune's ring-3 state: the child's fresh vCPU lacks it */
	pid = dune_syscall6(SYS_fork, 0, 0, 0, 0, 0, 0);
	if (pid < 0) {
		__atomic_sub_fetch(S.nprocs, 1, __ATOMIC_SEQ_CST);
		return pid;
	}
	if (pid == 0) {
		/* the child: a new Dune process resuming here */
		wrmsr64(MSR_KERNEL_GS_BASE, kgs);
		sbx_drop_compat_segment();	/* the fresh vCPU has a fresh GDT */
		S.lock = 0;			/* another thread of the parent may have held it */
		S.nthreads = 1;			/* only the forking thread lives on in the child */
		S.pid = getpid();
		S.nchildren = 0;
		r3->tid = (int)syscall(SYS_gettid);
		r3->pending = 0;
		sbx_fs_after_fork(&S.fs, S.pid);
		if (stack)
			tf->rsp = stack;
		if ((flags & CLONE_CHILD_SETTID) && ctid)
			sbx_copy_out(ctid, &r3->tid, sizeof(int));
		sbx_log_event("fork", "\"parent\":%d", (int)getppid());
		return 0;
	}
	S.children[S.nchildren++] = (pid_t)pid;
	if ((flags & CLONE_PARENT_SETTID) && ptid) {
		int p = (int)pid;

		sbx_copy_out(ptid, &p, sizeof(p));
	}
	return pid;
}

/* ---------------------------------------------------------------- threads */

#define MAX_THREADS	64

struct newthread {
	struct dune_tf tf;		/* the parent's ring-3 context at the clone */
	unsigned long flags;
	uint64_t stack, ptid, ctid, tls;
	volatile int tid;		/* set by the new thread: > 0 started, < 0 failed */
};

static void *thread_main(void *arg)
{
	struct newthread *nt = arg;
	struct r3thread *t = calloc(1, sizeof(*t));
	struct dune_tf tf = nt->tf;
	unsigned long flags = nt->flags;
	int tid = (int)syscall(SYS_gettid);

	if (!t || !(t->fpbuf = aligned_alloc(64, (S.fpu_size + 63) & ~(size_t)63))) {
		__atomic_store_n(&nt->tid, -ENOMEM, __ATOMIC_RELEASE);
		syscall(SYS_futex, &nt->tid, FUTEX_WAKE, 1, 0, 0, 0);
		free(t);
		return NULL;
	}
	t->tid = tid;
	t->altstack.ss_flags = SS_DISABLE;
	r3 = t;
	sbx_drop_compat_segment();	/* a fresh vCPU, a fresh GDT */
	if (flags & CLONE_CHILD_CLEARTID)
		t->clear_tid = nt->ctid;
	if ((flags & CLONE_CHILD_SETTID) && nt->ctid)
		sbx_copy_out(nt->ctid, &tid, sizeof(tid));
	if ((flags & CLONE_PARENT_SETTID) && nt->ptid)
		sbx_copy_out(nt->ptid, &tid, sizeof(tid));
	dune_set_ring3_fs(nt->tls);
	tf.rax = 0;
	tf.rsp = nt->stack;
	__atomic_store_n(&nt->tid, tid, __ATOMIC_RELEASE);	/* nt belongs to the parent from here on */
	syscall(SYS_futex, &nt->tid, FUTEX_WAKE, 1, 0, 0, 0);
	sbx_log_event("thread", "\"tid\":%d", tid);
	dune_jump_to_user(&tf);	/* returns when this thread exits (sbx_thread_exit) */
	free(t->fpbuf);
	free(t);
	return NULL;
}

static long do_thread(struct dune_tf *tf, const struct sc_desc *d)
{
	unsigned long flags = tf->rdi;
	const unsigned long need = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
	const unsigned long ok = need | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
				 CLONE_CHILD_CLEARTID;
	struct newthread nt;
	pthread_attr_t attr;
	pthread_t th;
	int r;

	if (!S.pol->threads) {
		deny(tf, d, -EPERM, "policy: threads: false");
		return -EPERM;
	}
	if ((flags & need) != need || (flags & ~ok) || !tf->rsi) {
		deny(tf, d, -EINVAL, "threads share memory, files, cwd and handlers (CLONE_THREAD and friends), with a stack");
		return -EINVAL;
	}
	if (__atomic_add_fetch(&S.nthreads, 1, __ATOMIC_SEQ_CST) > MAX_THREADS) {
		__atomic_sub_fetch(&S.nthreads, 1, __ATOMIC_SEQ_CST);
		sbx_log_event("limit", "\"what\":\"threads\",\"limit\":%d,\"decision\":\"deny\",\"errno\":\"EAGAIN\"",
			      MAX_THREADS);
		return -EAGAIN;
	}
	S.fs.nocache = true;	/* resolutions may now run at once: no shared directory cache */
	memset(&nt, 0, sizeof(nt));
	nt.tf = *tf;
	nt.flags = flags;
	nt.stack = tf->rsi;
	nt.ptid = tf->rdx;
	nt.ctid = tf->r10;
	nt.tls = (flags & CLONE_SETTLS) ? tf->r8 : dune_get_ring3_fs();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);	/* the ring-0 stack of the new thread */
	r = pthread_create(&th, &attr, thread_main, &nt);
	pthread_attr_destroy(&attr);
	if (r) {
		__atomic_sub_fetch(&S.nthreads, 1, __ATOMIC_SEQ_CST);
		return -r;
	}
	while (!__atomic_load_n(&nt.tid, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &nt.tid, FUTEX_WAIT, 0, 0, 0, 0);
	if (nt.tid < 0) {
		__atomic_sub_fetch(&S.nthreads, 1, __ATOMIC_SEQ_CST);
		return nt.tid;
	}
	return nt.tid;
}

/* exit(2) of one thread of the program: the kernel's clear-child-tid, then this monitor thread ends. */
static void __attribute__((noreturn)) thread_exit(int status)
{
	uint64_t all = ~0ULL;

	if (__atomic_sub_fetch(&S.nthreads, 1, __ATOMIC_SEQ_CST) <= 0)
		sbx_exit(status);	/* the last one: the process ends */
	if (r3->clear_tid) {
		int zero = 0;

		if (!sbx_copy_out(r3->clear_tid, &zero, sizeof(zero)))
			syscall(SYS_futex, r3->clear_tid, FUTEX_WAKE, 1, 0, 0, 0);
	}
	/* no signal of the process may be routed to a thread that is gone */
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
	if (r3 == &sbx_main_r3) {
		/* the main thread: main() must not run on; wait for the last thread's exit_group */
		for (;;)
			syscall(SYS_pause);
	}
	dune_ret_from_user(0);
}

static long do_clone(struct dune_tf *tf, const struct sc_desc *d)
{
	unsigned long flags = tf->rdi;
	const unsigned long ok = CSIGNAL | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID |
				 CLONE_VFORK | CLONE_VM;

	if ((flags & CLONE_VM) && !(flags & CLONE_VFORK))
		return do_thread(tf, d);
	if (flags & ~ok) {
		deny(tf, d, -EINVAL, "clone flags the sandbox does not offer (namespaces, shared files/fs, ...)");
		return -EINVAL;
	}
	/* CLONE_VM | CLONE_VFORK (posix_spawn): a fork on the given stack */
	return do_fork(tf, d, flags, (flags & CLONE_VFORK) ? tf->rsi : 0, tf->rdx, tf->r10);
}

/* ---------------------------------------------------------------- execve */

static void free_strv(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Copy a NULL-terminated array of strings from the program (argv, envp). */
static long copy_strv(uint64_t p, char ***out, size_t *total)
{
	size_t n = 0, cap = 16;
	char **v = calloc(cap, sizeof(char *));

	*out = NULL;
	if (!v)
		return -ENOMEM;
	for (;;) {
		uint64_t sp;
		int err = 0;

		if (!p)
			break;
		if (sbx_copy_in(&sp, p + n * 8, 8)) {
			free_strv(v);
			return -EFAULT;
		}
		if (!sp)
			break;
		if (n + 1 >= cap) {
			char **nv;

			if (cap > ARG_MAX_TOTAL / 8) {
				free_strv(v);
				return -E2BIG;
			}
			nv = realloc(v, cap * 2 * sizeof(char *));
			if (!nv) {
				free_strv(v);
				return -ENOMEM;
			}
			v = nv;
			memset(v + cap, 0, cap * sizeof(char *));
			cap *= 2;
		}
		v[n] = sbx_copy_string(&S.ua, sp, ARG_MAX_STRLEN, &err);
		if (!v[n]) {
			free_strv(v);
			return err == -ENAMETOOLONG ? -E2BIG : err;
		}
		*total += strlen(v[n]) + 1 + sizeof(char *);
		n++;
		if (*total > ARG_MAX_TOTAL) {
			free_strv(v);
			return -E2BIG;
		}
	}
	v[n] = NULL;
	*out = v;
	return 0;
}

/* Close the program's close-on-exec descriptors, as execve does (not the loader's own, in keep[]). */
static void close_on_exec(const int *keep, int nkeep)
{
	char buf[4096];
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dfd < 0)
		return;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		long off = 0;

		while (off < n) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			int fd = atoi(e->d_name);

			off += e->d_reclen;
			int k;
			bool kept = false;

			for (k = 0; k < nkeep; k++)
				kept |= keep[k] == fd;
			if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dfd || sbx_is_monitor_fd(fd) || kept)
				continue;
			if (fcntl(fd, F_GETFD) & FD_CLOEXEC) {
				close(fd);
				sbx_set_wfd(fd, false);
			}
		}
	}
	close(dfd);
}

static long do_execve(struct dune_tf *tf, const struct sc_desc *d, int dirfd, uint64_t upath, uint64_t uargv,
		      uint64_t uenvp, int flags)
{
	char **argv = NULL, **envp = NULL, *path, full[4200], fdp[32];
	struct sbx_exec x;
	size_t total = 0;
	int err = 0, ret;

	if (!S.pol->exec) {
		deny(tf, d, -EPERM, "policy: exec: false");
		return -EPERM;
	}
	if (S.nthreads > 1) {
		deny(tf, d, -EPERM, "execve from a program with several threads is not offered");
		return -EPERM;
	}
	path = sbx_copy_string(&S.ua, upath, SBX_PATH_MAX, &err);
	if (!path)
		return err;
	if (dirfd != AT_FDCWD && sbx_is_monitor_fd(dirfd)) {
		free(path);
		return -EBADF;
	}
	if (!*path && (flags & AT_EMPTY_PATH)) {
		snprintf(full, sizeof(full), "%s", sbx_fd_path(dirfd, fdp));	/* fexecve: the program's own fd */
	} else if (path[0] == '/' || dirfd == AT_FDCWD) {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		char base[4096];
		ssize_t n = readlink(sbx_fd_path(dirfd, fdp), base, sizeof(base) - 1);

		if (n <= 0) {
			free(path);
			return -EBADF;
		}
		base[n] = '\0';
		snprintf(full, sizeof(full), "%s/%s", base, path);
	}
	free(path);
	ret = (int)copy_strv(uargv, &argv, &total);
	if (!ret)
		ret = (int)copy_strv(uenvp, &envp, &total);
	if (ret)
		goto out;
	ret = sbx_prepare(full, argv, &x);
	if (ret) {
		if (ret == -EACCES)
			sbx_log_syscall(tf, d, "deny", ret, "cannot execute (policy or permissions)");
		goto out;
	}
	/* the point of no return */
	sbx_log_event("exec", "\"path\":\"%s\"", x.path);
	{
		int keep[4] = { x.fd, x.interp_fd, x.prog.fd, x.interp_open ? x.interp.fd : -1 };

		close_on_exec(keep, 4);
	}
	sbx_sig_reset_for_exec();
	sbx_arena_reset();
	ret = sbx_commit(&x, envp, tf);
	sbx_exec_free(&x);
	if (ret) {
		sbx_log_event("exec", "\"decision\":\"kill\",\"reason\":\"loading failed after the old image was gone\","
			      "\"errno\":%d", -ret);
		sbx_die_by_signal(SIGSEGV);
	}
	free_strv(argv);
	free_strv(envp);
	return 0;
out:
	free_strv(argv);
	free_strv(envp);
	return ret;
}

/* The whole arena becomes a reservation again (both parts, never the monitor's window). */
void sbx_arena_reset(void)
{
	static const uint64_t part[2][2] = { { SBX_ARENA_LO, SBX_HOLE_LO }, { SBX_HOLE_HI, SBX_ARENA_HI } };
	int i;

	for (i = 0; i < 2; i++) {
		long r = dune_syscall6(SYS_mmap, (long)part[i][0], (long)(part[i][1] - part[i][0]), PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

		if (r != (long)part[i][0]) {
			dune_printf("dune-sandbox: cannot reset the arena: %ld\n", r);
			sbx_exit(SBX_EXIT_ERROR);
		}
	}
	dune_flush_tlb();
	arena_free(&S.ar);
	arena_init(&S.ar, SBX_ARENA_LO, SBX_ARENA_HI);
	arena_set_hole(&S.ar, SBX_HOLE_LO, SBX_HOLE_HI);
	sbx_mm_reset();
}

/* ------------------------------------------------------------------ misc */

static void reaped(long pid)
{
	int i;

	for (i = 0; i < S.nchildren; i++)
		if (S.children[i] == pid) {
			S.children[i] = S.children[--S.nchildren];
			return;
		}
}

void sbx_proc_syscall(struct dune_tf *tf, const struct sc_desc *d)
{
	long nr = (long)tf->rax, r;

	switch (nr) {
	case SYS_exit:
		thread_exit((int)tf->rdi);
	case SYS_exit_group:
		sbx_exit((int)tf->rdi);
	case SYS_fork:
		r = do_fork(tf, d, SIGCHLD, 0, 0, 0);
		break;
	case SYS_vfork:
		r = do_fork(tf, d, SIGCHLD, 0, 0, 0);
		break;
	case SYS_clone:
		r = do_clone(tf, d);
		break;
	case SYS_clone3:
		r = -ENOSYS;	/* glibc falls back to clone */
		break;
	case SYS_execve:
		r = do_execve(tf, d, AT_FDCWD, tf->rdi, tf->rsi, tf->rdx, 0);
		break;
	case SYS_execveat:
		r = do_execve(tf, d, (int)tf->rdi, tf->rsi, tf->rdx, tf->r10, (int)tf->r8);
		break;
	case SYS_wait4:
		sbx_generic(tf, d);
		if ((long)tf->rax > 0)
			reaped((long)tf->rax);
		return;
	case SYS_setpgid:
		if (tf->rdi && (pid_t)tf->rdi != S.pid && !sbx_signal_target_ok((long)(int)tf->rdi)) {
			deny(tf, d, -EPERM, "process group of a process outside the sandbox");
			return;
		}
		sbx_generic(tf, d);
		return;
	default:
		sbx_generic(tf, d);
		return;
	}
	SET_RET(tf, r);
}
