/*
 * stats: dune.ko's event counters (DUNE_GET_STATS via dune_get_stats()).
 * On the host before entering: a bad buffer is -EFAULT, a wrong size ENOTTY,
 * and nothing has been counted.  In Dune mode: the constant cost of a read is measured (a read is
 * itself a VMCALL round trip), then 1000 getpid raise VMCALL exits and
 * DUNE_RET_SYSCALL returns by exactly 1000 + that constant, every entry
 * costs the same host MSR writes, first touches of fresh pages are EPT
 * violations (second touches are not), a signal is one injected interrupt,
 * a thread's counts survive its exit (its vCPU is destroyed and folded into
 * the file's totals), and a fork child starts from zero on its own file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

#define R_VMCALL		18
#define R_EPT_VIOLATION		48
#define NWORDS			(sizeof(struct dune_stats) / sizeof(uint64_t))
#define GETPIDS			1000
#define PAGES			64
#define THREAD_GETPIDS		500

static void read_stats(struct dune_stats *s)
{
	TEST_ASSERT(dune_get_stats(s) == 0);
}

/* d = b - a, word by word; every counter must only have grown. */
static void delta(struct dune_stats *d, const struct dune_stats *a, const struct dune_stats *b)
{
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	uint64_t *z = (uint64_t *)d;
	size_t i;

	for (i = 0; i < NWORDS; i++) {
		TEST_ASSERT(y[i] >= x[i]);
		z[i] = y[i] - x[i];
	}
}

static uint64_t sum_returns(const struct dune_stats *s)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < DUNE_STATS_RETURNS; i++)
		n += s->returns[i];
	return n;
}

static volatile int thread_ready, thread_go;

static void *thread_main(void *arg)
{
	int i;

	(void)arg;
	TEST_ASSERT(dune_in_guest());
	for (i = 0; i < THREAD_GETPIDS; i++)
		syscall(SYS_getpid);
	__atomic_store_n(&thread_ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&thread_go, __ATOMIC_SEQ_CST))
		__builtin_ia32_pause();
	return NULL;
}

static volatile int got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

int main(void)
{
	static struct dune_stats h, r0, r1, r2, a, b, d, c1, c2;
	uint64_t read_vmcalls, read_syscall_rets, msr_per_entry;
	unsigned char *mem, *ro;
	pthread_t th;
	pid_t pid;
	int i, st, fd;

	test_name = "stats";
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* The raw ioctl on a file of our own: all zero; another size is another ioctl. */
	fd = open("/dev/dune", O_RDWR | O_CLOEXEC);
	TEST_ASSERT(fd >= 0);
	memset(&h, 0xff, sizeof(h));
	TEST_ASSERT(ioctl(fd, DUNE_GET_STATS, &h) == 0);
	for (i = 0; i < (int)NWORDS; i++)
		TEST_ASSERT(((uint64_t *)&h)[i] == 0);
	TEST_ASSERT(ioctl(fd, _IOR(DUNE_MINOR, 0x07, __u64), &h) == -1 && errno == ENOTTY);
	TEST_ASSERT(ioctl(fd, _IOW(DUNE_MINOR, 0x07, struct dune_stats), &h) == -1 && errno == ENOTTY);
	TEST_ASSERT(ioctl(fd, DUNE_GET_STATS, NULL) == -1 && errno == EFAULT);
	close(fd);

	/* Host side, before and after dune_init(). */
	TEST_ASSERT(dune_get_stats(&h) == -ENODEV);
	TEST_ASSERT(dune_init(true) == 0);
	memset(&h, 0xff, sizeof(h));
	TEST_ASSERT(dune_get_stats(&h) == 0);
	TEST_ASSERT(h.vcpus == 0 && h.entries == 0 && h.exits == 0 && h.ioctl_returns == 0);
	TEST_ASSERT(dune_get_stats((struct dune_stats *)8) == -EFAULT);
	ro = mmap(NULL, sizeof(h) + 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(ro != MAP_FAILED);
	TEST_ASSERT(dune_get_stats((struct dune_stats *)ro) == -EFAULT);

	TEST_ASSERT(dune_enter() == 0);
	TEST_ASSERT(dune_in_guest());

	/* The cost of a read, measured twice: a VMCALL round trip of its own. */
	read_stats(&r0);
	read_stats(&r1);
	read_stats(&r2);
	TEST_ASSERT(r0.vcpus == 1 && r0.vcpus_destroyed == 0);
	delta(&c1, &r0, &r1);
	delta(&c2, &r1, &r2);
	read_vmcalls = c1.exit_reasons[R_VMCALL];
	read_syscall_rets = c1.returns[DUNE_RET_SYSCALL];
	TEST_ASSERT(read_vmcalls >= 1 && read_vmcalls == c2.exit_reasons[R_VMCALL]);
	TEST_ASSERT(read_syscall_rets == c2.returns[DUNE_RET_SYSCALL]);
	TEST_ASSERT(c1.entries >= 1);
	msr_per_entry = c1.msr_writes / c1.entries;
	TEST_ASSERT(c1.msr_writes == msr_per_entry * c1.entries);

	/* 1000 getpid: 1000 more VMCALL exits and syscall returns, nothing else per call. */
	read_stats(&a);
	for (i = 0; i < GETPIDS; i++)
		syscall(SYS_getpid);
	read_stats(&b);
	delta(&d, &a, &b);
	TEST_ASSERT(d.exit_reasons[R_VMCALL] == GETPIDS + read_vmcalls);
	TEST_ASSERT(d.returns[DUNE_RET_SYSCALL] == GETPIDS + read_syscall_rets);
	TEST_ASSERT(d.entries == d.exits + d.entry_failures);	/* every exit re-entered once */
	TEST_ASSERT(d.entry_failures == 0);
	TEST_ASSERT(d.ioctl_returns == sum_returns(&d));
	TEST_ASSERT(d.msr_writes == msr_per_entry * d.entries);
	TEST_ASSERT(d.ept_violations == d.exit_reasons[R_EPT_VIOLATION]);
	printf("stats: a read costs %llu VMCALL exit(s); %d getpid: %llu exits (%llu VMCALL), %llu entries, "
	       "%llu ioctl returns, %llu host MSR writes (%llu per entry)\n",
	       (unsigned long long)read_vmcalls, GETPIDS, (unsigned long long)d.exits,
	       (unsigned long long)d.exit_reasons[R_VMCALL], (unsigned long long)d.entries,
	       (unsigned long long)d.ioctl_returns, (unsigned long long)d.msr_writes,
	       (unsigned long long)msr_per_entry);

	/* First touch of fresh pages: one EPT violation (and leaf) each; a second touch: none. */
	mem = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(mem != MAP_FAILED);
	read_stats(&a);
	for (i = 0; i < PAGES; i++)
		mem[i * 4096] = (unsigned char)i;
	read_stats(&b);
	delta(&d, &a, &b);
	TEST_ASSERT(d.ept_violations >= PAGES);
	TEST_ASSERT(d.ept_pages_mapped >= PAGES);
	TEST_ASSERT(d.exit_reasons[R_EPT_VIOLATION] == d.ept_violations);
	printf("stats: %d fresh pages: %llu EPT violations, %llu EPT pages mapped\n", PAGES,
	       (unsigned long long)d.ept_violations, (unsigned long long)d.ept_pages_mapped);
	read_stats(&a);
	for (i = 0; i < PAGES; i++)
		mem[i * 4096] += 1;
	read_stats(&b);
	delta(&d, &a, &b);
	TEST_ASSERT(d.exit_reasons[R_EPT_VIOLATION] == 0);
	for (i = 0; i < PAGES; i++)
		TEST_ASSERT(mem[i * 4096] == (unsigned char)(i + 1));

	/* A signal to ourselves is delivered as one injected interrupt. */
	TEST_ASSERT(signal(SIGUSR1, on_usr1) != SIG_ERR);
	read_stats(&a);
	TEST_ASSERT(kill(getpid(), SIGUSR1) == 0);
	for (i = 0; i < 1000000 && !got_usr1; i++)
		__builtin_ia32_pause();
	read_stats(&b);
	TEST_ASSERT(got_usr1);
	delta(&d, &a, &b);
	TEST_ASSERT(d.interrupts_injected == 1);

	/* A thread's counts survive its exit. */
	read_stats(&a);
	TEST_ASSERT(pthread_create(&th, NULL, thread_main, NULL) == 0);
	while (!__atomic_load_n(&thread_ready, __ATOMIC_SEQ_CST))
		__builtin_ia32_pause();
	read_stats(&b);			/* the thread's vCPU is live */
	delta(&d, &a, &b);
	TEST_ASSERT(d.vcpus == 1 && d.vcpus_destroyed == 0);
	TEST_ASSERT(d.exit_reasons[R_VMCALL] >= THREAD_GETPIDS);
	__atomic_store_n(&thread_go, 1, __ATOMIC_SEQ_CST);
	TEST_ASSERT(pthread_join(th, NULL) == 0);
	syscall(SYS_getpid);		/* the next DUNE_ENTER reaps the exited thread's vCPU */
	a = b;
	read_stats(&b);			/* folded now */
	delta(&d, &a, &b);		/* checks that no counter went down */
	TEST_ASSERT(d.vcpus == 0 && d.vcpus_destroyed == 1);
	TEST_ASSERT(d.returns[DUNE_RET_EXIT] == 1);	/* the thread's exit() */
	printf("stats: thread: %llu VMCALL exits while it ran, vCPU destroyed, counts kept\n",
	       (unsigned long long)(b.exit_reasons[R_VMCALL] - r2.exit_reasons[R_VMCALL]));

	/* A fork child has its own /dev/dune file: its counters start at zero. */
	pid = fork();
	TEST_ASSERT(pid >= 0);
	if (pid == 0) {
		struct dune_stats cs;

		if (dune_get_stats(&cs) != 0)
			_exit(2);
		_exit(cs.vcpus == 1 && cs.vcpus_destroyed == 0 &&
		      cs.exit_reasons[R_VMCALL] < b.exit_reasons[R_VMCALL] ? 0 : 3);
	}
	TEST_ASSERT(waitpid(pid, &st, 0) == pid);
	TEST_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	test_pass();
	return 0;
}
