/*
 * hostile: a program that tries to get out of the sandbox, one way per case (`hostile CASE`).
 * It knows the sandbox's layout (its arena is [64 KiB, 256 GiB) less [1 GiB, 2 GiB), README.md)
 * and aims at everything else: the monitor's image, heap, libdune's memory and stacks, as listed
 * in /proc/self/maps.  Each attempt that must fail and does not is printed as "ESCAPE: ..."; the
 * last line is "RESULT case=C attempts=N escaped=M".  Cases that must end the program (int 0x80,
 * VMCALL, a read of the monitor's memory, ...) are killed before they print RESULT; the driver
 * (run.c) checks the way they ended, the monitor's self-check and the files outside the policy.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/time.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "util.h"

#define ARENA_LO	0x10000ULL
#define HOLE_LO		0x40000000ULL
#define HOLE_HI		0x80000000ULL
#define ARENA_HI	0x4000000000ULL
#define CANARY		"/root/sbx-canary"
#define RW		"/tmp/sbx-rw"

static const char *cname;
static volatile int attempts, escaped;

static long sc(long nr, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(nr, a, b, c, d, e, f);

	return r < 0 ? -errno : r;
}

/* an attempt that must fail (any error will do unless want != 0) */
static void must_fail(const char *what, long r, int want)
{
	attempts++;
	if (r >= 0 || (want && r != -want)) {
		escaped++;
		printf("ESCAPE: %s returned %ld (%s)\n", what, r, r < 0 ? errname((int)-r) : "success");
	}
}

static void result(void)
{
	printf("RESULT case=%s attempts=%d escaped=%d\n", cname, attempts, escaped);
	fflush(stdout);
}

static bool in_arena(uint64_t a)
{
	return a >= ARENA_LO && a < ARENA_HI && !(a >= HOLE_LO && a < HOLE_HI);
}

/* ---- the monitor's memory, from /proc/self/maps ---- */

struct target {
	uint64_t start, end;
	char name[48];
};

static struct target T[64];
static int nT;

static void load_targets(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	if (f) {
		while (fgets(line, sizeof(line), f) && nT < 64) {
			unsigned long long s, e;
			char perms[8], path[256] = "";

			if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %255s", &s, &e, perms, path) < 3)
				continue;
			if (in_arena(s) || !strcmp(path, "[vsyscall]"))
				continue;
			T[nT].start = s;
			T[nT].end = e;
			snprintf(T[nT].name, sizeof(T[nT].name), "%s %s", perms, path[0] ? path : "anon");
			nT++;
		}
		fclose(f);
	}
	if (nT == 0) {	/* no /proc: the monitor's image is at least here */
		T[0] = (struct target){ HOLE_LO, HOLE_LO + 0x10000, "monitor image" };
		T[1] = (struct target){ HOLE_LO + 0x100000, HOLE_LO + 0x110000, "monitor data" };
		nT = 2;
	}
}

/* ---- catching the faults some attempts raise ---- */

static sigjmp_buf jb;
static volatile int faults;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	faults++;
	siglongjmp(jb, sig);
}

static void catch_faults(void)
{
	struct sigaction sa;
	int sigs[] = { SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGTRAP };
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* run f; it must raise a signal (trap) rather than complete */
#define MUST_TRAP(desc, stmt) do {						\
	int _s;									\
	attempts++;								\
	if (!(_s = sigsetjmp(jb, 1))) {						\
		stmt;								\
		__asm__ volatile("" ::: "memory");				\
		escaped++;							\
		printf("ESCAPE: %s completed in ring 3\n", desc);		\
	} else {								\
		printf("  %-28s -> signal %d\n", desc, _s);			\
	}									\
} while (0)

/* ================================================================= cases */

/* Pointer arguments aimed at the monitor: the kernel would read or write its memory. */
static void c_ptr_args(void)
{
	int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY), sv[2], i;
	int dfd = open(RW, O_RDONLY | O_DIRECTORY);
	char buf[64];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	for (i = 0; i < nT; i++) {
		uint64_t t = T[i].start;
		struct iovec iov = { (void *)t, 8 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

		printf("  target %llx-%llx %s\n", (unsigned long long)T[i].start, (unsigned long long)T[i].end, T[i].name);
		must_fail("read(/dev/zero) into the monitor", sc(SYS_read, zero, (long)t, 8, 0, 0, 0), EFAULT);
		must_fail("write() from the monitor", sc(SYS_write, null, (long)t, 8, 0, 0, 0), EFAULT);
		must_fail("pread64 into the monitor", sc(SYS_pread64, zero, (long)t, 8, 0, 0, 0), EFAULT);
		must_fail("readv into the monitor", sc(SYS_readv, zero, (long)&iov, 1, 0, 0, 0), EFAULT);
		must_fail("writev from the monitor", sc(SYS_writev, null, (long)&iov, 1, 0, 0, 0), EFAULT);
		if (write(sv[0], "12345678", 8) == 8)
			must_fail("recvmsg into the monitor", sc(SYS_recvmsg, sv[1], (long)&mh, 0, 0, 0, 0), EFAULT);
		must_fail("getcwd into the monitor", sc(SYS_getcwd, (long)t, 64, 0, 0, 0, 0), EFAULT);
		must_fail("uname into the monitor", sc(SYS_uname, (long)t, 0, 0, 0, 0, 0), EFAULT);
		must_fail("clock_gettime into the monitor", sc(SYS_clock_gettime, CLOCK_MONOTONIC, (long)t, 0, 0, 0, 0),
			  EFAULT);
		must_fail("fstat into the monitor", sc(SYS_fstat, 0, (long)t, 0, 0, 0, 0), EFAULT);
		must_fail("stat into the monitor", sc(SYS_stat, (long)RW, (long)t, 0, 0, 0, 0), EFAULT);
		must_fail("getrandom into the monitor", sc(SYS_getrandom, (long)t, 8, 0, 0, 0, 0), EFAULT);
		must_fail("pipe into the monitor", sc(SYS_pipe, (long)t, 0, 0, 0, 0, 0), EFAULT);
		must_fail("rt_sigaction oact into the monitor", sc(SYS_rt_sigaction, SIGUSR1, 0, (long)t, 8, 0, 0), EFAULT);
		must_fail("rt_sigprocmask oset into the monitor", sc(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)t, 8, 0, 0),
			  EFAULT);
		must_fail("sched_getaffinity into the monitor", sc(SYS_sched_getaffinity, 0, 8, (long)t, 0, 0, 0), EFAULT);
		must_fail("readlink into the monitor", sc(SYS_readlink, (long)"/proc/self/exe", (long)t, 16, 0, 0, 0),
			  EFAULT);
		must_fail("getdents64 into the monitor", sc(SYS_getdents64, dfd, (long)t, 64, 0, 0, 0), EFAULT);
		must_fail("socketpair into the monitor", sc(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, (long)t, 0, 0), EFAULT);
		must_fail("poll on the monitor", sc(SYS_poll, (long)t, 1, 0, 0, 0, 0), EFAULT);
		must_fail("wait4 status into the monitor", sc(SYS_wait4, -1, (long)t, WNOHANG, 0, 0, 0), 0);
		must_fail("times into the monitor", sc(SYS_times, (long)t, 0, 0, 0, 0, 0), EFAULT);
		must_fail("sysinfo into the monitor", sc(SYS_sysinfo, (long)t, 0, 0, 0, 0, 0), EFAULT);
		must_fail("futex on the monitor", sc(SYS_futex, (long)t, FUTEX_WAKE, 1, 0, 0, 0), EFAULT);
		must_fail("open() a path in the monitor", sc(SYS_open, (long)t, O_RDONLY, 0, 0, 0, 0), EFAULT);
		must_fail("getsockname len in the monitor", sc(SYS_getsockname, sv[0], (long)buf, (long)t, 0, 0, 0),
			  EFAULT);
		must_fail("prlimit64 old into the monitor", sc(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)t, 0, 0), EFAULT);
		must_fail("set_tid_address then PR_GET_TID_ADDRESS into it",
			  sc(SYS_prctl, 40 /* PR_GET_TID_ADDRESS */, (long)t, 0, 0, 0, 0), EFAULT);
	}
	result();
}

/* Memory-management calls aimed at the monitor's pages. */
static void c_mm(void)
{
	void *own = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), i;

	for (i = 0; i < nT; i++) {
		long t = (long)T[i].start;

		printf("  target %llx %s\n", (unsigned long long)T[i].start, T[i].name);
		must_fail("mmap MAP_FIXED over the monitor",
			  sc(SYS_mmap, t, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), 0);
		must_fail("mmap MAP_FIXED_NOREPLACE on the monitor",
			  sc(SYS_mmap, t, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0), 0);
		must_fail("mprotect the monitor RWX", sc(SYS_mprotect, t, 4096, 7, 0, 0, 0), 0);
		must_fail("pkey_mprotect the monitor", sc(SYS_pkey_mprotect, t, 4096, 7, -1, 0, 0), 0);
		must_fail("munmap the monitor", sc(SYS_munmap, t, 4096, 0, 0, 0, 0), 0);
		must_fail("mremap the monitor (grow)", sc(SYS_mremap, t, 4096, 8192, MREMAP_MAYMOVE, 0, 0), 0);
		must_fail("mremap own memory onto the monitor",
			  sc(SYS_mremap, (long)own, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, t, 0), 0);
		must_fail("madvise DONTNEED on the monitor", sc(SYS_madvise, t, 4096, MADV_DONTNEED, 0, 0, 0), 0);
		must_fail("madvise REMOVE on the monitor", sc(SYS_madvise, t, 4096, MADV_REMOVE, 0, 0, 0), 0);
		must_fail("mlock the monitor", sc(SYS_mlock, t, 4096, 0, 0, 0, 0), 0);
		must_fail("msync the monitor", sc(SYS_msync, t, 4096, MS_SYNC, 0, 0, 0), 0);
		must_fail("mincore of the monitor", sc(SYS_mincore, t, 4096, (long)own, 0, 0, 0), 0);
		if (id >= 0)
			must_fail("shmat over the monitor", sc(SYS_shmat, id, t, SHM_REMAP, 0, 0, 0), 0);
		must_fail("remap_file_pages", sc(SYS_remap_file_pages, t, 4096, 0, 0, 0, 0), 0);
		must_fail("mbind on the monitor", sc(SYS_mbind, t, 4096, 0, 0, 0, 0), 0);
	}
	/* brk cannot reach the monitor's window either: the break stays where it was */
	{
		long cur = sc(SYS_brk, 0, 0, 0, 0, 0, 0);

		attempts++;
		if (sc(SYS_brk, (long)HOLE_LO + 0x1000, 0, 0, 0, 0, 0) != cur) {
			escaped++;
			printf("ESCAPE: brk moved into the monitor's window\n");
		}
	}
	/* and a plain mmap never lands outside the arena */
	for (i = 0; i < 64; i++) {
		void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		attempts++;
		if (p != MAP_FAILED && !in_arena((uint64_t)(uintptr_t)p)) {
			escaped++;
			printf("ESCAPE: mmap returned %p outside the arena\n", p);
		}
	}
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	result();
}

/* After all that, the monitor's pages are still out of reach: touching one faults. */
static void c_touch(void)
{
	catch_faults();
	load_targets();
	MUST_TRAP("read the monitor's image", (void)*(volatile char *)(uintptr_t)HOLE_LO);
	MUST_TRAP("write the monitor's data", *(volatile char *)(uintptr_t)(T[nT > 1 ? 1 : 0].start) = 1);
	MUST_TRAP("jump into the monitor", ((void (*)(void))(uintptr_t)(HOLE_LO + 0x1000))());
	result();
}

/* The paths to the process's memory from outside the page tables. */
static void c_proc_mem(void)
{
	char p[128];
	int dfd;

	must_fail("open /proc/self/mem O_RDWR", sc(SYS_open, (long)"/proc/self/mem", O_RDWR, 0, 0, 0, 0), 0);
	must_fail("open /proc/self/mem O_RDONLY", sc(SYS_open, (long)"/proc/self/mem", O_RDONLY, 0, 0, 0, 0), 0);
	snprintf(p, sizeof(p), "/proc/%d/mem", getpid());
	must_fail("open /proc/<pid>/mem", sc(SYS_open, (long)p, O_RDWR, 0, 0, 0, 0), 0);
	snprintf(p, sizeof(p), "/proc/self/task/%ld/mem", sc(SYS_gettid, 0, 0, 0, 0, 0, 0));
	must_fail("open /proc/self/task/<tid>/mem", sc(SYS_open, (long)p, O_RDWR, 0, 0, 0, 0), 0);
	must_fail("open /proc/thread-self/mem", sc(SYS_open, (long)"/proc/thread-self/mem", O_RDWR, 0, 0, 0, 0), 0);
	must_fail("open /proc/self/../self/mem", sc(SYS_open, (long)"/proc/self/../self/mem", O_RDWR, 0, 0, 0, 0), 0);
	dfd = open("/proc/self", O_PATH | O_DIRECTORY);
	if (dfd >= 0)
		must_fail("openat(/proc/self, mem)", sc(SYS_openat, dfd, (long)"mem", O_RDWR, 0, 0, 0), 0);
	must_fail("open /proc/self/pagemap", sc(SYS_open, (long)"/proc/self/pagemap", O_RDONLY, 0, 0, 0, 0), 0);
	must_fail("open /proc/self/map_files", sc(SYS_open, (long)"/proc/self/map_files", O_RDONLY, 0, 0, 0, 0), 0);
	if (symlink("/proc/self/mem", RW "/mem-link") == 0 || errno == EEXIST)
		must_fail("open a symlink to /proc/self/mem", sc(SYS_open, (long)RW "/mem-link", O_RDWR, 0, 0, 0, 0), 0);
	must_fail("open /dev/dune", sc(SYS_open, (long)"/dev/dune", O_RDWR, 0, 0, 0, 0), 0);
	must_fail("open /dev/mem", sc(SYS_open, (long)"/dev/mem", O_RDWR, 0, 0, 0, 0), 0);
	{
		char buf[8];
		struct iovec l = { buf, 8 }, r = { (void *)(uintptr_t)HOLE_LO, 8 };

		must_fail("process_vm_readv of itself", sc(SYS_process_vm_readv, getpid(), (long)&l, 1, (long)&r, 1, 0), 0);
		must_fail("process_vm_writev of itself",
			  sc(SYS_process_vm_writev, getpid(), (long)&l, 1, (long)&r, 1, 0), 0);
	}
	must_fail("ptrace(PTRACE_TRACEME)", sc(SYS_ptrace, 0 /* TRACEME */, 0, 0, 0, 0, 0), 0);
	must_fail("ptrace(ATTACH, parent)", sc(SYS_ptrace, 16, getppid(), 0, 0, 0, 0), 0);
	must_fail("kcmp", sc(SYS_kcmp, getpid(), getpid(), 0, 0, 0, 0), 0);
	must_fail("pidfd_open(self)", sc(SYS_pidfd_open, getpid(), 0, 0, 0, 0, 0), 0);
	must_fail("pidfd_getfd", sc(SYS_pidfd_getfd, 3, 3, 0, 0, 0, 0), 0);
	must_fail("userfaultfd", sc(SYS_userfaultfd, 0, 0, 0, 0, 0, 0), 0);
	must_fail("io_uring_setup", sc(SYS_io_uring_setup, 8, (long)&attempts, 0, 0, 0, 0), 0);
	must_fail("io_setup", sc(SYS_io_setup, 8, (long)&attempts, 0, 0, 0, 0), 0);
	must_fail("perf_event_open", sc(SYS_perf_event_open, 0, 0, -1, -1, 0, 0), 0);
	must_fail("bpf", sc(SYS_bpf, 0, 0, 0, 0, 0, 0), 0);
	must_fail("seccomp", sc(SYS_seccomp, 0, 0, 0, 0, 0, 0), 0);
	must_fail("personality(READ_IMPLIES_EXEC)", sc(SYS_personality, 0x0400000, 0, 0, 0, 0, 0), 0);
	must_fail("modify_ldt", sc(SYS_modify_ldt, 1, (long)&attempts, 16, 0, 0, 0), 0);
	must_fail("set_thread_area", sc(SYS_set_thread_area, (long)&attempts, 0, 0, 0, 0, 0), 0);
	must_fail("iopl(3)", sc(SYS_iopl, 3, 0, 0, 0, 0, 0), 0);
	must_fail("ioperm", sc(SYS_ioperm, 0x80, 1, 1, 0, 0, 0), 0);
	must_fail("prctl(PR_SET_MM)", sc(SYS_prctl, 35 /* PR_SET_MM */, 1, HOLE_LO, 0, 0, 0), 0);
	must_fail("unshare(CLONE_NEWUSER)", sc(SYS_unshare, 0x10000000, 0, 0, 0, 0, 0), 0);
	must_fail("mount", sc(SYS_mount, (long)"none", (long)RW, (long)"tmpfs", 0, 0, 0), 0);
	{
		struct { void *h; unsigned long f; void *r; unsigned long m; } ka = { (void *)c_proc_mem, 0x04000000,
										       (void *)c_proc_mem, 0 };

		must_fail("sigaction with a handler for signal 60 (no vector)",
			  sc(SYS_rt_sigaction, 60, (long)&ka, 0, 8, 0, 0), EINVAL);
	}
	result();
}

/* The monitor's descriptors: not the program's to use, close, replace or duplicate onto. */
static void c_monitor_fds(void)
{
	int fd, fd2;
	char buf[8];

	for (fd = 900; fd < 1024; fd++) {
		long r = sc(SYS_fcntl, fd, F_GETFD, 0, 0, 0, 0);

		if (r == -EBADF)
			continue;
		printf("  fd %d is open to the program\n", fd);	/* the program's own, not the monitor's */
	}
	for (fd = 900; fd < 1024; fd++) {
		must_fail("ioctl on a monitor fd", sc(SYS_ioctl, fd, 0x8080e901 /* DUNE_ENTER */, 0, 0, 0, 0), 0);
		must_fail("read from a monitor fd", sc(SYS_read, fd, (long)buf, 8, 0, 0, 0), 0);
		must_fail("fstat a monitor fd", sc(SYS_fstat, fd, (long)buf, 0, 0, 0, 0), 0);
	}
	/* closing or replacing them fails or is harmless: the sandbox keeps working after */
	for (fd = 900; fd < 1024; fd++) {
		sc(SYS_close, fd, 0, 0, 0, 0, 0);
		sc(SYS_dup2, 1, fd, 0, 0, 0, 0);
		sc(SYS_dup3, 1, fd, O_CLOEXEC, 0, 0, 0);
	}
	sc(SYS_close_range, 3, ~0U, 0, 0, 0, 0);
	fd2 = open(RW "/after-close-range", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	attempts++;
	if (fd2 < 0 || write(fd2, "x", 1) != 1) {
		escaped++;	/* not an escape, but the sandbox broke: count it as a failure */
		printf("FAIL: the sandbox stopped working after the descriptor games\n");
	}
	result();
}

/* Files outside the policy: direct, via symlinks, links, renames, "..", fds. */
static void c_files(void)
{
	const char *c = CANARY "/file";
	int fd;

	must_fail("open canary O_RDWR", sc(SYS_open, (long)c, O_RDWR, 0, 0, 0, 0), 0);
	must_fail("open canary O_RDONLY", sc(SYS_open, (long)c, O_RDONLY, 0, 0, 0, 0), 0);
	must_fail("open canary O_TRUNC", sc(SYS_open, (long)c, O_WRONLY | O_TRUNC, 0, 0, 0, 0), 0);
	must_fail("create in the canary dir", sc(SYS_open, (long)CANARY "/new", O_WRONLY | O_CREAT, 0644, 0, 0, 0), 0);
	must_fail("open via ..", sc(SYS_open, (long)RW "/../../root/sbx-canary/file", O_RDWR, 0, 0, 0, 0), 0);
	unlink(RW "/l1");
	symlink(c, RW "/l1");
	must_fail("open via a symlink (write)", sc(SYS_open, (long)RW "/l1", O_WRONLY | O_TRUNC, 0, 0, 0, 0), 0);
	must_fail("open via a symlink (read)", sc(SYS_open, (long)RW "/l1", O_RDONLY, 0, 0, 0, 0), 0);
	unlink(RW "/l2");
	symlink("/root/sbx-canary", RW "/l2");
	must_fail("create through a directory symlink",
		  sc(SYS_open, (long)RW "/l2/planted", O_WRONLY | O_CREAT, 0644, 0, 0, 0), 0);
	must_fail("hard link the canary in", sc(SYS_link, (long)c, (long)RW "/hl", 0, 0, 0, 0), 0);
	must_fail("rename the canary in", sc(SYS_rename, (long)c, (long)RW "/moved", 0, 0, 0, 0), 0);
	must_fail("rename something over the canary", sc(SYS_rename, (long)RW "/l1", (long)c, 0, 0, 0, 0), 0);
	must_fail("unlink the canary", sc(SYS_unlink, (long)c, 0, 0, 0, 0, 0), 0);
	must_fail("chmod the canary", sc(SYS_chmod, (long)c, 0777, 0, 0, 0, 0), 0);
	must_fail("chmod via symlink", sc(SYS_chmod, (long)RW "/l1", 0777, 0, 0, 0, 0), 0);
	must_fail("chown the canary", sc(SYS_chown, (long)c, 1, 1, 0, 0, 0), 0);
	must_fail("truncate the canary", sc(SYS_truncate, (long)c, 0, 0, 0, 0, 0), 0);
	must_fail("truncate via symlink", sc(SYS_truncate, (long)RW "/l1", 0, 0, 0, 0, 0), 0);
	must_fail("utimes the canary", sc(SYS_utimes, (long)c, 0, 0, 0, 0, 0), 0);
	must_fail("setxattr the canary", sc(SYS_setxattr, (long)c, (long)"user.x", (long)"1", 1, 0, 0), 0);
	must_fail("mknod a device in the rw dir", sc(SYS_mknod, (long)RW "/mem", S_IFCHR | 0600, (1 << 8) | 1, 0, 0, 0), 0);
	must_fail("open /etc/passwd for writing", sc(SYS_open, (long)"/etc/passwd", O_WRONLY | O_APPEND, 0, 0, 0, 0), 0);
	must_fail("open / as a directory fd", sc(SYS_open, (long)"/", O_RDONLY | O_DIRECTORY, 0, 0, 0, 0), 0);
	must_fail("chdir to /root", sc(SYS_chdir, (long)"/root", 0, 0, 0, 0, 0), 0);
	must_fail("execve /bin/sh", sc(SYS_execve, (long)"/bin/sh", 0, 0, 0, 0, 0), 0);
	/* through a descriptor of the program's own read-only file: no linkat/fchmod either */
	fd = open("/root/dunelab/scenarios/sandbox/sbx-hostile", O_RDONLY);
	if (fd >= 0) {
		must_fail("fchmod a read-only-policy file", sc(SYS_fchmod, fd, 0777, 0, 0, 0, 0), 0);
		must_fail("linkat AT_EMPTY_PATH of a read-only file",
			  sc(SYS_linkat, fd, (long)"", AT_FDCWD, (long)RW "/hl2", AT_EMPTY_PATH, 0), 0);
		must_fail("write to a read-only file", sc(SYS_write, fd, (long)"x", 1, 0, 0, 0), 0);
	}
	/* the sandbox still lets it use its own directory */
	fd = open(RW "/mine", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	attempts++;
	if (fd < 0 || write(fd, "mine", 4) != 4) {
		escaped++;
		printf("FAIL: the program cannot use its own directory\n");
	}
	result();
}

/* The 32-bit system call entries and VMCALL: the program is killed with SIGSYS. */
static void c_int80(void)
{
	long r;

	printf("trying int 0x80\n");
	fflush(stdout);
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L /* getpid, i386 */) : "memory");
	printf("ESCAPE: int 0x80 returned %ld\n", r);
}

static void c_sysenter(void)
{
	printf("trying sysenter\n");
	fflush(stdout);
	__asm__ volatile("sysenter" ::: "memory");
	printf("ESCAPE: sysenter returned\n");
}

static void c_vmcall(void)
{
	long r;

	printf("trying vmcall (as libdune's host call: creat)\n");
	fflush(stdout);
	__asm__ volatile("vmcall" : "=a"(r) : "a"(85L), "D"(RW "/vmcall-made"), "S"(0644L) : "memory");
	printf("ESCAPE: vmcall returned %ld\n", r);
}

/* SYSCALL from a compatibility-mode code segment: there is none to get into (a far return to 0x23 faults). */
static void c_compat(void)
{
	printf("trying a far return to the 32-bit code segment 0x23\n");
	fflush(stdout);
	__asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
			 "pushq $0x23\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n\t"
			 ".code32\n"
			 "1: movl $20, %%eax\n\t"
			 "syscall\n\t"
			 ".code64\n" ::: "rax", "memory");
	printf("ESCAPE: compat mode reached\n");
}

/* Privileged and I/O instructions: each must trap (SIGSEGV or SIGILL), ring 3 goes on. */
static void c_privileged(void)
{
	uint64_t v = 0;

	catch_faults();
	MUST_TRAP("hlt", __asm__ volatile("hlt"));
	MUST_TRAP("cli", __asm__ volatile("cli"));
	MUST_TRAP("sti", __asm__ volatile("sti"));
	MUST_TRAP("rdmsr LSTAR", __asm__ volatile("rdmsr" : "=a"(v) : "c"(0xC0000082) : "rdx"));
	MUST_TRAP("wrmsr LSTAR", __asm__ volatile("wrmsr" : : "c"(0xC0000082), "a"(0), "d"(0)));
	MUST_TRAP("wrmsr KERNEL_GS_BASE", __asm__ volatile("wrmsr" : : "c"(0xC0000102), "a"(0), "d"(0)));
	MUST_TRAP("mov cr3", __asm__ volatile("mov %%cr3, %0" : "=r"(v)));
	MUST_TRAP("mov to cr3", __asm__ volatile("mov %0, %%cr3" : : "r"(v)));
	MUST_TRAP("mov cr0", __asm__ volatile("mov %%cr0, %0" : "=r"(v)));
	MUST_TRAP("lgdt", __asm__ volatile("lgdt (%0)" : : "r"(&v)));
	MUST_TRAP("lidt", __asm__ volatile("lidt (%0)" : : "r"(&v)));
	MUST_TRAP("ltr", __asm__ volatile("ltr %w0" : : "r"(0x40)));
	MUST_TRAP("lldt", __asm__ volatile("lldt %w0" : : "r"(0)));
	MUST_TRAP("invlpg", __asm__ volatile("invlpg (%0)" : : "r"(&v)));
	MUST_TRAP("swapgs", __asm__ volatile("swapgs"));
	MUST_TRAP("sysret", __asm__ volatile("sysretq"));
	MUST_TRAP("in al, 0x80", __asm__ volatile("inb $0x80, %%al" : : : "rax"));
	MUST_TRAP("out 0x80, al", __asm__ volatile("outb %%al, $0x80" : : "a"(0)));
	MUST_TRAP("in al, dx (0xcf8)", __asm__ volatile("inl %%dx, %%eax" : : "d"(0xcf8) : "rax"));
	MUST_TRAP("vmread", __asm__ volatile("vmread %1, %0" : "=r"(v) : "r"(0x6c00ULL)));
	MUST_TRAP("vmxoff", __asm__ volatile("vmxoff"));
	MUST_TRAP("vmlaunch", __asm__ volatile("vmlaunch"));
	MUST_TRAP("invept", __asm__ volatile("invept (%0), %1" : : "r"(&v), "r"(1ULL)));
	MUST_TRAP("int 0x20 (a vector without a DPL 3 gate)", __asm__ volatile("int $0x20"));
	MUST_TRAP("int 0xd2 (a signal vector)", __asm__ volatile("int $0xd2"));
	MUST_TRAP("int 0x0e (page fault vector)", __asm__ volatile("int $0x0e"));
	MUST_TRAP("ud2", __asm__ volatile("ud2"));
	result();
}

/*
 * Instructions that make a VM exit under VMX: a CPU checks the privilege level first (#GP at CPL3),
 * an emulator may not, and then dune.ko decides.  None may change anything: each either traps or
 * completes without effect (XCR0 is checked); dune.ko may also end the whole process (status 125),
 * which contains the program too (the driver accepts that, noted, for this case only).
 */
#define TRY(desc, stmt) do {							\
	int _s;									\
	attempts++;								\
	if (!(_s = sigsetjmp(jb, 1))) {						\
		stmt;								\
		__asm__ volatile("" ::: "memory");				\
		printf("  %-28s -> completed in ring 3\n", desc);		\
	} else {								\
		printf("  %-28s -> signal %d\n", desc, _s);			\
	}									\
} while (0)

static uint64_t xgetbv0(void)
{
	uint32_t a, d;

	__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	return ((uint64_t)d << 32) | a;
}

static void c_vmexit_insns(void)
{
	static volatile uint64_t x0;
	static volatile bool have_x0;
	uint64_t v = 0;

	catch_faults();
	if (!sigsetjmp(jb, 1)) {
		x0 = xgetbv0();
		have_x0 = true;
	} else {
		printf("  xgetbv traps here (CR4.OSXSAVE off for ring 3): XCR0 not compared\n");
	}
	TRY("wbinvd", __asm__ volatile("wbinvd"));
	TRY("invd", __asm__ volatile("invd"));
	TRY("clts", __asm__ volatile("clts"));
	TRY("rdpmc", __asm__ volatile("rdpmc" : : "c"(0) : "rax", "rdx"));
	TRY("xsetbv (the current XCR0)", __asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)x0), "d"((uint32_t)(x0 >> 32))));
	TRY("xsetbv (x87 only)", __asm__ volatile("xsetbv" : : "c"(0), "a"(1), "d"(0)));
	if (have_x0) {
		attempts++;
		if (xgetbv0() != x0) {
			escaped++;
			printf("ESCAPE: XCR0 changed from %#llx to %#llx\n", (unsigned long long)x0,
			       (unsigned long long)xgetbv0());
		}
	}
	fflush(stdout);
	TRY("mov from dr7", __asm__ volatile("mov %%dr7, %0" : "=r"(v)));
	TRY("mov to dr7", __asm__ volatile("mov %0, %%dr7" : : "r"(0x3ULL)));
	TRY("mov to dr0", __asm__ volatile("mov %0, %%dr0" : : "r"(HOLE_LO)));
	result();
}

/* Far transfers to the monitor's segments and IRET games. */
static void c_far(void)
{
	catch_faults();
	MUST_TRAP("ljmp to the kernel code segment 0x10",
		  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tpushq $0x10\n\tpushq %%rax\n\t.byte 0x48, 0xff, 0x2c, 0x24\n1:\n\taddq $16, %%rsp"
				   ::: "rax", "memory"));
	MUST_TRAP("lret to the kernel code segment 0x10",
		  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tpushq $0x10\n\tpushq %%rax\n\tlretq\n1:" ::: "rax", "memory"));
	MUST_TRAP("lret to 0x13 (kernel CS with RPL 3)",
		  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tpushq $0x13\n\tpushq %%rax\n\tlretq\n1:" ::: "rax", "memory"));
	MUST_TRAP("lret to the data segment 0x2b",
		  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tpushq $0x2b\n\tpushq %%rax\n\tlretq\n1:" ::: "rax", "memory"));
	MUST_TRAP("lret to the TSS selector 0x40",
		  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tpushq $0x43\n\tpushq %%rax\n\tlretq\n1:" ::: "rax", "memory"));
	MUST_TRAP("lcall through selector 0x08",
		  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tpushq $0x0b\n\tpushq %%rax\n\t.byte 0x48, 0xff, 0x1c, 0x24\n1:\n\taddq $16, %%rsp"
				   ::: "rax", "memory"));
	MUST_TRAP("iretq to ring 0 (cs 0x10)",
		  __asm__ volatile("movq %%rsp, %%rax\n\tpushq $0x18\n\tpushq %%rax\n\tpushfq\n\tpushq $0x10\n\t"
				   "leaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tiretq\n1:" ::: "rax", "memory"));
	MUST_TRAP("iretq with IOPL 3 then out",
		  __asm__ volatile("movq %%rsp, %%rax\n\tpushq $0x2b\n\tpushq %%rax\n\tpushfq\n\torq $0x3000, (%%rsp)\n\t"
				   "pushq $0x33\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tiretq\n1:\n\toutb %%al, $0x80"
				   ::: "rax", "memory"));
	MUST_TRAP("mov ss, kernel data 0x18", __asm__ volatile("movw $0x18, %%ax\n\tmovw %%ax, %%ss" ::: "rax"));
	MUST_TRAP("mov ds, 0x20 (the dropped 32-bit code segment)",
		  __asm__ volatile("movw $0x23, %%ax\n\tmovw %%ax, %%ds" ::: "rax"));
	result();
}

/* A forged signal frame: kernel cs, IOPL 3, garbage FPU state.  The sandbox must sanitize it. */
static volatile int landed;

static void landing(void)
{
	uint16_t cs;
	uint64_t fl;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(fl));
	printf("  after the forged sigreturn: cs=%#x iopl=%llu\n", cs, (unsigned long long)(fl >> 12 & 3));
	attempts++;
	if (cs != 0x33 || (fl >> 12 & 3)) {
		escaped++;
		printf("ESCAPE: forged privilege survived sigreturn\n");
	}
	catch_faults();
	MUST_TRAP("cli after the forged frame", __asm__ volatile("cli"));
	MUST_TRAP("out after the forged frame", __asm__ volatile("outb %%al, $0x80" : : "a"(0)));
	result();
	fflush(stdout);
	_exit(0);
}

static void c_sigreturn(int cs)
{
	static uint64_t stack[4096] __attribute__((aligned(16)));
	ucontext_t uc;

	memset(&uc, 0, sizeof(uc));
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)landing;
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&stack[4000] - 8;	/* as after a call */
	uc.uc_mcontext.gregs[REG_EFL] = 0x3202;		/* IOPL 3, and NT... */
	uc.uc_mcontext.gregs[REG_CSGSFS] = cs;
	uc.uc_mcontext.fpregs = NULL;			/* no FPU state: the initial one */
	printf("calling rt_sigreturn on a forged frame (cs %#x, IOPL 3)\n", cs);
	fflush(stdout);
	/* rt_sigreturn reads the ucontext at rsp (where the handler's return left it) */
	__asm__ volatile("movq %0, %%rsp\n\tmovl $15, %%eax\n\tsyscall" : : "r"(&uc) : "memory");
	printf("ESCAPE: rt_sigreturn returned\n");
}

/* A forged frame with an FPU image XRSTOR would refuse: SIGSEGV, as natively; ring 0 never loads it. */
static void c_sigreturn_fpu(void)
{
	static uint8_t fpu[8192] __attribute__((aligned(64)));
	static uint64_t stack[1024] __attribute__((aligned(16)));
	ucontext_t uc;

	memset(&uc, 0, sizeof(uc));
	memset(fpu, 0xff, sizeof(fpu));	/* MXCSR reserved bits, XSTATE_BV, XCOMP_BV, header: all set */
	memcpy(fpu + 464, (uint32_t[]){ 0x46505853U, 4096 + 4, 0xffffffffU, 0xffffffffU, 4096 }, 20);
	memcpy(fpu + 4096, (uint32_t[]){ 0x46505845U }, 4);
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)landing;
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&stack[1000] - 8;
	uc.uc_mcontext.gregs[REG_EFL] = 0x202;
	uc.uc_mcontext.gregs[REG_CSGSFS] = 0x33;	/* everything right but the FPU image */
	uc.uc_mcontext.fpregs = (fpregset_t)fpu;
	printf("calling rt_sigreturn with a garbage XSAVE image\n");
	fflush(stdout);
	__asm__ volatile("movq %0, %%rsp\n\tmovl $15, %%eax\n\tsyscall" : : "r"(&uc) : "memory");
	printf("ESCAPE: rt_sigreturn returned\n");
}

/* A forged frame returning into the monitor's code: ring 3 faults there (no PTE_U) and dies. */
static void c_sigreturn_monitor(void)
{
	static uint64_t stack[1024];
	ucontext_t uc;

	memset(&uc, 0, sizeof(uc));
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(HOLE_LO + 0x1000);
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&stack[1000];
	uc.uc_mcontext.gregs[REG_EFL] = 0x202;
	printf("rt_sigreturn into the monitor's code\n");
	fflush(stdout);
	__asm__ volatile("movq %0, %%rsp\n\tmovl $15, %%eax\n\tsyscall" : : "r"(&uc) : "memory");
	printf("ESCAPE: rt_sigreturn returned\n");
}

/* The stack pointer aimed at the monitor while making system calls and taking signals. */
static void c_stack_pivot(void)
{
	printf("syscall with rsp in the monitor, then a push\n");
	fflush(stdout);
	__asm__ volatile("movq %0, %%rsp\n\t"
			 "movl $39, %%eax\n\t"	/* getpid */
			 "syscall\n\t"
			 "pushq %%rax\n\t"	/* must fault: the page is not the program's */
			 : : "r"(HOLE_LO + 0x80000) : "rax", "rcx", "r11", "memory");
	printf("ESCAPE: pushed onto the monitor's memory\n");
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A sigaltstack in the monitor's memory: the frame cannot be written there; the program dies. */
static void c_altstack(void)
{
	stack_t ss = { .ss_sp = (void *)(uintptr_t)(HOLE_LO + 0x100000), .ss_size = 65536 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	printf("sigaltstack in the monitor: %s\n", sigaltstack(&ss, NULL) ? errname(errno) : "accepted");
	fflush(stdout);
	raise(SIGUSR1);
	printf("ESCAPE: a signal frame was written into the monitor\n");
}

/* FS/GS bases set from ring 3 (WRFSBASE/WRGSBASE) do not confuse the monitor. */
static void c_fsgsbase(void)
{
	uint64_t gs = HOLE_LO + 0x1000;
	int i;

	catch_faults();
	MUST_TRAP("wrfsbase with a non-canonical value",
		  __asm__ volatile("wrfsbase %0" : : "r"(0x8000000000000000ULL)));
	attempts++;
	if (!sigsetjmp(jb, 1)) {
		__asm__ volatile("wrgsbase %0" : : "r"(gs));
		for (i = 0; i < 100; i++)
			sc(SYS_getpid, 0, 0, 0, 0, 0, 0);
		printf("  100 system calls with GS base in the monitor: fine\n");
		__asm__ volatile("wrgsbase %0" : : "r"(0ULL));
	} else {
		printf("  wrgsbase not available (signal)\n");
	}
	result();
}

/* ---- limits ---- */

/* A fork bomb under max_processes: 4 (this one and 3 children alive at once). */
static void c_fork_bomb(void)
{
	int i, made = 0, eagain = 0, other = 0, p[2];
	pid_t kids[64];
	char c;

	if (pipe(p))
		return;
	for (i = 0; i < 32; i++) {
		pid_t k = fork();

		if (k == 0) {
			/* children stay alive until the parent is done */
			close(p[1]);
			while (read(p[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (k < 0) {
			if (errno == EAGAIN)
				eagain++;
			else
				other++;
			continue;
		}
		kids[made++] = k;
	}
	close(p[1]);	/* the children may go now */
	for (i = 0; i < made; i++)
		waitpid(kids[i], NULL, 0);
	printf("  forks while the children lived: %d made, %d refused with EAGAIN, %d other errors\n", made, eagain,
	       other);
	attempts++;
	if (made != 3 || eagain != 32 - 3) {
		escaped++;
		printf("FAIL: max_processes (4 alive) was not enforced exactly\n");
	}
	/* once they are gone, their slots are free again */
	{
		pid_t k = fork();

		attempts++;
		if (k == 0)
			_exit(0);
		if (k < 0) {
			escaped++;
			printf("FAIL: fork still refused after the children exited\n");
		} else {
			waitpid(k, NULL, 0);
		}
	}
	result();
}

static void c_memory(void)
{
	size_t total = 0, chunk = 4 << 20;
	void *p;

	while ((p = malloc(chunk))) {
		memset(p, 1, chunk);
		total += chunk;
		if (total > (4ULL << 30))
			break;
	}
	printf("  allocated and touched %zu MiB before malloc failed\n", total >> 20);
	attempts++;
	if (total > (256ULL << 20)) {
		escaped++;
		printf("FAIL: more than the policy's 256 MiB\n");
	}
	must_fail("mmap 1 TiB (NORESERVE)",
		  (long)mmap(NULL, 1ULL << 40, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), 0);
	must_fail("mremap to 512 GiB",
		  (long)mremap(malloc(1), 4096, 512ULL << 30, MREMAP_MAYMOVE), 0);
	result();
}

static volatile long storm_hits;

static void on_storm(int sig)
{
	(void)sig;
	storm_hits++;
}

static void c_signal_storm(int n)
{
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_storm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);	/* a timer firing every millisecond meanwhile */
	for (i = 0; i < n; i++)
		kill(getpid(), SIGUSR1);
	it.it_value.tv_usec = it.it_interval.tv_usec = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	printf("  %d signals sent to itself, %ld handled (timer included)\n", n, storm_hits);
	attempts++;
	if (storm_hits < n) {
		escaped++;
		printf("FAIL: signals were lost\n");
	}
	result();
}

static void c_huge_argv(const char *self)
{
	static char *argv[400000];
	char *big = malloc(300 << 10);
	int i;

	for (i = 0; i < 399999; i++)
		argv[i] = "0123456789";
	argv[399999] = NULL;
	must_fail("execve with 400000 arguments (4 MiB)", sc(SYS_execve, (long)self, (long)argv, 0, 0, 0, 0), E2BIG);
	memset(big, 'a', (300 << 10) - 1);
	big[(300 << 10) - 1] = 0;
	argv[0] = "x";
	argv[1] = big;
	argv[2] = NULL;
	must_fail("execve with one 300 KiB argument", sc(SYS_execve, (long)self, (long)argv, 0, 0, 0, 0), E2BIG);
	argv[1] = (char *)(uintptr_t)(HOLE_LO + 0x1000);
	must_fail("execve with an argument in the monitor", sc(SYS_execve, (long)self, (long)argv, 0, 0, 0, 0), EFAULT);
	must_fail("execve with argv in the monitor",
		  sc(SYS_execve, (long)self, (long)(HOLE_LO + 0x1000), 0, 0, 0, 0), EFAULT);
	must_fail("execve of a path in the monitor", sc(SYS_execve, HOLE_LO, 0, 0, 0, 0, 0), EFAULT);
	/* a sane exec still works, inside the sandbox */
	printf("  exec with a normal argv\n");
	result();
	fflush(stdout);
	argv[0] = "sbx-hostile";
	argv[1] = "exec-done";
	argv[2] = NULL;
	execv(self, argv);
	printf("FAIL: exec failed: %s\n", errname(errno));
}

static void *nothing(void *a)
{
	return a;
}

/* Threads under a policy without them: a clear refusal, the program goes on. */
static void c_threads(void)
{
	pthread_t t;
	int e = pthread_create(&t, NULL, nothing, NULL);

	printf("  pthread_create: %s\n", e ? strerror(e) : "created");
	attempts++;
	if (!e) {
		escaped++;
		printf("ESCAPE: a thread was created under threads: false\n");
		pthread_join(t, NULL);
	}
	result();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: hostile CASE\n");
		return 2;
	}
	cname = argv[1];
	mkdir(RW, 0755);
	load_targets();
	if (!strcmp(cname, "ptr-args"))
		c_ptr_args();
	else if (!strcmp(cname, "mm"))
		c_mm();
	else if (!strcmp(cname, "touch"))
		c_touch();
	else if (!strcmp(cname, "proc-mem"))
		c_proc_mem();
	else if (!strcmp(cname, "monitor-fds"))
		c_monitor_fds();
	else if (!strcmp(cname, "files"))
		c_files();
	else if (!strcmp(cname, "int80"))
		c_int80();
	else if (!strcmp(cname, "sysenter"))
		c_sysenter();
	else if (!strcmp(cname, "vmcall"))
		c_vmcall();
	else if (!strcmp(cname, "compat"))
		c_compat();
	else if (!strcmp(cname, "privileged"))
		c_privileged();
	else if (!strcmp(cname, "vmexit-insns"))
		c_vmexit_insns();
	else if (!strcmp(cname, "far"))
		c_far();
	else if (!strcmp(cname, "sigreturn"))
		c_sigreturn(0x33);	/* IOPL asked for: ignored, ring 3 goes on without it */
	else if (!strcmp(cname, "sigreturn-cs"))
		c_sigreturn(0x10);	/* the kernel's code segment: the return fails, SIGSEGV (as natively) */
	else if (!strcmp(cname, "sigreturn-fpu"))
		c_sigreturn_fpu();
	else if (!strcmp(cname, "sigreturn-monitor"))
		c_sigreturn_monitor();
	else if (!strcmp(cname, "stack-pivot"))
		c_stack_pivot();
	else if (!strcmp(cname, "altstack"))
		c_altstack();
	else if (!strcmp(cname, "fsgsbase"))
		c_fsgsbase();
	else if (!strcmp(cname, "fork-bomb"))
		c_fork_bomb();
	else if (!strcmp(cname, "memory"))
		c_memory();
	else if (!strcmp(cname, "signal-storm"))
		c_signal_storm(argc > 2 ? atoi(argv[2]) : 2000);
	else if (!strcmp(cname, "huge-argv"))
		c_huge_argv(argc > 2 ? argv[2] : "/root/dunelab/scenarios/sandbox/sbx-hostile");
	else if (!strcmp(cname, "threads"))
		c_threads();
	else if (!strcmp(cname, "exec-done"))
		printf("exec ok: running again inside the sandbox\n");
	else {
		fprintf(stderr, "hostile: unknown case %s\n", cname);
		return 2;
	}
	return escaped ? 3 : 0;
}
