/*
 * user_elf: ELF programs run to completion in ring 3 with dune_exec_user():
 * a static non-PIE and a static PIE build of tests/payload/hello.c (argv,
 * env, TLS, brk and mmap heap, stdio, exit status), busybox applets (echo,
 * cat of a file, false), a program killed by a NULL write (status 139), and
 * a filter that sees every ring-3 syscall and denies one, and isolation: the
 * program dies (139) reading or writing this program's memory, static or
 * heap.  The programs' stdout goes to a memfd that is compared byte for
 * byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../test_util.h"

#define BUSYBOX	"/bin/busybox"

static char payload_dir[PATH_MAX];
static char out[8192];

/* payloads are installed in ../payload relative to this program */
static void find_payloads(void)
{
	ssize_t n = readlink("/proc/self/exe", payload_dir, sizeof(payload_dir) - 1);
	char *slash;

	TEST_ASSERT(n > 0);
	payload_dir[n] = 0;
	slash = strrchr(payload_dir, '/');
	TEST_ASSERT(slash);
	strcpy(slash, "/../payload");
}

/* Run path in ring 3 with stdout captured; returns the exit status, output in out[]. */
static int run(const char *path, char *const argv[], char *const envp[], dune_exec_filter filter, void *arg)
{
	int memfd = memfd_create("user_elf_out", MFD_CLOEXEC), saved = dup(1), status = -1, r;
	ssize_t n;

	TEST_ASSERT(memfd >= 0 && saved >= 0);
	fflush(stdout);
	TEST_ASSERT(dup2(memfd, 1) == 1);
	r = dune_exec_user(path, argv, envp, filter, arg, &status);
	TEST_ASSERT(dup2(saved, 1) == 1);
	close(saved);
	if (r) {
		printf("dune_exec_user(%s) returned %d\n", path, r);
		TEST_ASSERT(r == 0);
	}
	n = pread(memfd, out, sizeof(out) - 1, 0);
	TEST_ASSERT(n >= 0);
	out[n] = 0;
	close(memfd);
	printf("%s -> status %d, output: %s%s", argv[0], status, out, n && out[n - 1] == '\n' ? "" : "\n");
	return status;
}

static void expect_output(const char *want)
{
	if (strcmp(out, want)) {
		printf("FAIL %s: output\n  %s  want\n  %s", test_name, out, want);
		exit(1);
	}
}

/* -------------------------------------------------------- the filter */

struct filter_stats {
	unsigned long calls, ring0_calls;
	unsigned long per_nr[512];
};

/* Counts every call; uname is denied, so the program sees -EPERM. */
static bool count_and_deny_uname(struct dune_tf *tf, void *arg)
{
	struct filter_stats *st = arg;

	if (!(tf->cs & 3))
		st->ring0_calls++;
	st->calls++;
	if (tf->rax < 512)
		st->per_nr[tf->rax]++;
	if (tf->rax == SYS_uname) {
		tf->rax = (uint64_t)-EPERM;
		return true;
	}
	return false;
}

static void test_hello(const char *variant)
{
	char path[PATH_MAX + 32];
	char *argv[] = { "hello", "a b", "c", NULL };
	char *envp[] = { "X=1", "DUNE_PAYLOAD=ring3", NULL };
	char want[256];
	struct filter_stats st;
	int status;

	snprintf(path, sizeof(path), "%s/hello_%s", payload_dir, variant);
	memset(&st, 0, sizeof(st));
	status = run(path, argv, envp, count_and_deny_uname, &st);
	snprintf(want, sizeof(want), "argc=3 argv=hello|a b|c env=ring3 tls=1234 heap=1 cpl=3 pagesz=%ld uname=%d\n",
		 sysconf(_SC_PAGESIZE), -EPERM);
	expect_output(want);
	TEST_ASSERT(status == 7);
	/* the filter saw the program's own calls, in ring 3 only */
	TEST_ASSERT(st.ring0_calls == 0);
	TEST_ASSERT(st.per_nr[SYS_arch_prctl] >= 1);
	TEST_ASSERT(st.per_nr[SYS_brk] >= 2);
	TEST_ASSERT(st.per_nr[SYS_mmap] >= 1);
	TEST_ASSERT(st.per_nr[SYS_write] >= 1);
	TEST_ASSERT(st.per_nr[SYS_exit_group] == 1);
	printf("hello_%s: %lu ring-3 syscalls filtered\n", variant, st.calls);
}

static void test_busybox(void)
{
	char *echo[] = { "echo", "hello", "from", "busybox", NULL };
	char *cat[] = { "cat", "/tmp/user_elf.txt", NULL };
	char *fail[] = { "false", NULL };
	const char text[] = "line one\nline two\n";
	int fd;

	if (access(BUSYBOX, X_OK)) {
		printf("FAIL %s: %s is missing in this guest\n", test_name, BUSYBOX);
		exit(1);
	}
	TEST_ASSERT(run(BUSYBOX, echo, NULL, NULL, NULL) == 0);
	expect_output("hello from busybox\n");

	fd = open("/tmp/user_elf.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	TEST_ASSERT(fd >= 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
	close(fd);
	TEST_ASSERT(run(BUSYBOX, cat, NULL, NULL, NULL) == 0);
	expect_output(text);
	unlink("/tmp/user_elf.txt");

	TEST_ASSERT(run(BUSYBOX, fail, NULL, NULL, NULL) == 1);
	expect_output("");
}

/* Ring-0 memory the ring-3 program is told the address of: it must not reach it. */
static char secret[] = "ring-0 secret";

static void test_isolation(void)
{
	char path[PATH_MAX + 32], addr[32];
	char *heap = malloc(64);
	char *targets[] = { secret, heap };
	const char *ops[] = { "peek", "poke" };
	unsigned i, j;

	TEST_ASSERT(heap);
	strcpy(heap, "ring-0 heap");
	snprintf(path, sizeof(path), "%s/hello_static", payload_dir);
	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++) {
			char *argv[] = { "hello", (char *)ops[j], addr, NULL };

			snprintf(addr, sizeof(addr), "%lx", (unsigned long)(uintptr_t)targets[i]);
			TEST_ASSERT(run(path, argv, NULL, NULL, NULL) == 128 + 11);
			expect_output("");
		}
	}
	TEST_ASSERT(strcmp(secret, "ring-0 secret") == 0 && strcmp(heap, "ring-0 heap") == 0);
	free(heap);
}

int main(void)
{
	char path[PATH_MAX + 32];
	char *segv[] = { "hello", "segv", NULL };
	char *none[] = { "x", NULL };
	int status = -1, fds_before, fds_after, fd;

	test_enter("user_elf");
	find_payloads();
	fds_before = (int)dune_syscall6(SYS_dup, 0, 0, 0, 0, 0, 0);
	close(fds_before);

	test_hello("static");
	test_hello("pie");
	test_busybox();
	test_isolation();

	/* an exception in ring 3 ends the program, not this process */
	snprintf(path, sizeof(path), "%s/hello_static", payload_dir);
	TEST_ASSERT(run(path, segv, NULL, NULL, NULL) == 128 + 11);
	TEST_ASSERT(dune_in_guest());

	/* loader errors come back as errnos */
	TEST_ASSERT(dune_exec_user("/nonexistent/prog", none, NULL, NULL, NULL, &status) == -ENOENT);
	fd = open("/tmp/user_elf.notelf", O_WRONLY | O_CREAT | O_TRUNC, 0755);
	TEST_ASSERT(fd >= 0 && write(fd, "#!/bin/sh\n", 10) == 10);
	close(fd);
	TEST_ASSERT(dune_exec_user("/tmp/user_elf.notelf", none, NULL, NULL, NULL, &status) == -ENOEXEC);
	unlink("/tmp/user_elf.notelf");

	/* ring 0 is intact: its TLS, syscalls, stdout; no descriptor leaked by the runs */
	fds_after = (int)dune_syscall6(SYS_dup, 0, 0, 0, 0, 0, 0);
	close(fds_after);
	TEST_ASSERT(fds_after == fds_before);
	TEST_ASSERT(dune_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0) == getpid());
	test_pass();
	return 0;
}
