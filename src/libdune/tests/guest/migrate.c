#define _GNU_SOURCE
/* migrate: a Dune thread moves between CPUs and keeps working.
 * 1. sched_setaffinity() from inside Dune, alternating CPUs, checking getcpu,
 *    memory contents and mmap/munmap after every move;
 * 2. another (plain) process moves us back and forth with sched_setaffinity(pid)
 *    (what `taskset -p` does) while we spin doing syscalls;
 * 3. two Dune threads migrate at the same time.
 * With a single online CPU it only checks that pinning works. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

#define MOVES 16

static int ncpu;

static int cur_cpu(void)
{
	unsigned cpu = ~0u;

	/* the raw syscall: the vDSO's getcpu reads segment limits of the host GDT */
	TEST_ASSERT(syscall(SYS_getcpu, &cpu, NULL, NULL) == 0);
	return (int)cpu;
}

static int pin(pid_t pid, int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	if (cpu < 0) {
		int i;

		for (i = 0; i < ncpu; i++)
			CPU_SET(i, &s);
	} else {
		CPU_SET(cpu, &s);
	}
	return sched_setaffinity(pid, sizeof(s), &s);
}

static volatile unsigned long sink[1024];

static int moves_in_dune(int tag)
{
	int i, j;

	for (i = 0; i < MOVES; i++) {
		int want = (i + tag) % ncpu;
		unsigned char *p;

		if (pin(0, want))
			return 10;
		if (cur_cpu() != want)
			return 11;
		for (j = 0; j < 1024; j++)
			sink[j] += (unsigned long)j * (unsigned long)(i + 1);
		p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 12;
		p[0] = (unsigned char)i;
		p[4096] = (unsigned char)~i;
		if (p[0] != (unsigned char)i || p[4096] != (unsigned char)~i)
			return 13;
		if (munmap(p, 8192))
			return 14;
		if (!dune_in_guest())
			return 15;
	}
	return 0;
}

static void *thread_main(void *arg)
{
	return (void *)(uintptr_t)moves_in_dune((int)(uintptr_t)arg);
}

int main(void)
{
	int i, fds[2], seen_mask = 0, switches = 0, last = -1, r;
	pid_t mover, me = getpid();
	unsigned long n;

	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 8)
		ncpu = 8;
	TEST_ASSERT(pipe(fds) == 0);
	mover = fork();
	TEST_ASSERT(mover >= 0);
	if (mover == 0) {
		/* plain process: wait for "go", then move the parent around until killed */
		char c;

		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(1);
		for (i = 0;; i++) {
			if (pin(me, i % (ncpu > 1 ? ncpu : 1)))
				_exit(2);
			usleep(20000);
		}
	}
	close(fds[0]);

	test_enter("migrate");
	TEST_ASSERT(ncpu >= 1);
	if (ncpu == 1) {
		TEST_ASSERT(pin(0, 0) == 0 && cur_cpu() == 0);
		kill(mover, SIGKILL);
		waitpid(mover, NULL, 0);
		printf("PASS migrate (only one CPU online: nothing to migrate)\n");
		return 0;
	}

	/* 1: move ourselves */
	r = moves_in_dune(0);
	if (r)
		printf("FAIL migrate: self-migration step failed (%d)\n", r);
	TEST_ASSERT(r == 0);
	TEST_ASSERT(pin(0, -1) == 0);

	/* 2: moved from outside while spinning on syscalls */
	TEST_ASSERT(write(fds[1], "g", 1) == 1);
	for (n = 0; n < 200000 && switches < 6; n++) {
		int c = cur_cpu();

		TEST_ASSERT(getpid() == me);
		seen_mask |= 1 << c;
		if (last >= 0 && c != last)
			switches++;
		last = c;
	}
	kill(mover, SIGKILL);
	TEST_ASSERT(waitpid(mover, NULL, 0) == mover);
	printf("migrate: moved from outside %d times in %lu syscall rounds (cpu mask %#x)\n",
	       switches, n, seen_mask);
	TEST_ASSERT(switches >= 2);
	TEST_ASSERT(pin(0, -1) == 0);

	/* 3: two Dune threads migrating at once */
	{
		pthread_t th;
		void *ret = (void *)1;

		TEST_ASSERT(pthread_create(&th, NULL, thread_main, (void *)1) == 0);
		r = moves_in_dune(0);
		TEST_ASSERT(pthread_join(th, &ret) == 0);
		if (r || ret)
			printf("FAIL migrate: concurrent migration main %d thread %ld\n", r, (long)(uintptr_t)ret);
		TEST_ASSERT(r == 0 && ret == NULL);
	}
	TEST_ASSERT(dune_in_guest());
	test_pass();
	return 0;
}
