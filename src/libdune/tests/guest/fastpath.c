/* fastpath: getpid, gettid, getppid, getuid, geteuid, getgid and getegid give
 * in Dune mode exactly what they give natively - dune.ko may answer them without
 * leaving the kernel (module parameter fastpath) - in the initial namespaces, in
 * a new PID namespace (pid 1) and user namespace (uid 4242), and under a seccomp
 * filter that makes getppid fail with EPERM: the filter must still apply. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

static const long nrs[] = { SYS_getpid, SYS_gettid, SYS_getppid, SYS_getuid,
			    SYS_geteuid, SYS_getgid, SYS_getegid };
#define N (sizeof(nrs) / sizeof(nrs[0]))

static void ids(long *v)
{
	unsigned i;

	for (i = 0; i < N; i++) {
		errno = 0;
		v[i] = syscall(nrs[i]);
		if (v[i] < 0)
			v[i] = -errno;
	}
}

/* The values natively, then in Dune mode (many times: the fast path warms up). */
static void same_in_dune(const char *what)
{
	long native[N], dune[N];
	unsigned i, k;

	ids(native);
	test_enter("fastpath");
	for (k = 0; k < 100; k++) {
		ids(dune);
		for (i = 0; i < N; i++)
			if (dune[i] != native[i]) {
				printf("FAIL fastpath: %s: syscall %ld gives %ld in Dune, %ld natively\n",
				       what, nrs[i], dune[i], native[i]);
				exit(1);
			}
	}
	printf("fastpath: %s: pid %ld tid %ld ppid %ld uid %ld euid %ld gid %ld egid %ld\n", what,
	       native[0], native[1], native[2], native[3], native[4], native[5], native[6]);
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	TEST_ASSERT(fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	close(fd);
}

static int in_child(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	TEST_ASSERT(pid >= 0);
	if (pid == 0) {
		fn();
		exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void plain(void)
{
	same_in_dune("initial namespaces");
}

static void pidns_child(void)
{
	long pid = syscall(SYS_getpid);

	TEST_ASSERT(pid == 1);
	same_in_dune("new PID namespace");
}

static void pidns(void)
{
	TEST_ASSERT(unshare(CLONE_NEWPID) == 0);
	exit(in_child(pidns_child));
}

static void userns(void)
{
	TEST_ASSERT(unshare(CLONE_NEWUSER) == 0);
	write_file("/proc/self/setgroups", "deny");
	write_file("/proc/self/uid_map", "4242 0 1");
	write_file("/proc/self/gid_map", "4343 0 1");
	TEST_ASSERT(syscall(SYS_getuid) == 4242 && syscall(SYS_getgid) == 4343);
	same_in_dune("new user namespace");
}

static void seccomp(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	TEST_ASSERT(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	TEST_ASSERT(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
	TEST_ASSERT(syscall(SYS_getppid) == -1 && errno == EPERM);
	same_in_dune("seccomp filter denying getppid");
}

int main(void)
{
	test_name = "fastpath";
	setvbuf(stdout, NULL, _IOLBF, 0);
	TEST_ASSERT(in_child(plain) == 0);
	TEST_ASSERT(in_child(pidns) == 0);
	TEST_ASSERT(in_child(userns) == 0);
	TEST_ASSERT(in_child(seccomp) == 0);
	printf("PASS fastpath\n");
	return 0;
}
