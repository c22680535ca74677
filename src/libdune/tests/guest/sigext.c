#define _GNU_SOURCE
/* sigext: SIGUSR1 sent by another process reaches the sigaction handler in Dune mode,
 * (1) while the Dune thread spins in guest code without any syscall (also exercises
 * the vDSO's clock_gettime, i.e. guest reads of [vvar]), and (2) while it is blocked
 * in a host syscall (pause() returns EINTR after the handler, as on Linux). */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

static volatile int got, got_cpl = -1;
static volatile pid_t got_pid;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_cpl = cpl();
	got_pid = si->si_pid;
	got = sig;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: reads [vvar] from the guest */
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	int go[2], r;
	pid_t child, me = getpid();
	struct sigaction sa;
	double t0;
	unsigned long spins = 0;

	TEST_ASSERT(pipe(go) == 0);
	child = fork();
	TEST_ASSERT(child >= 0);
	if (child == 0) {
		/* a plain process: one SIGUSR1 per byte read */
		char c;

		close(go[1]);
		while (read(go[0], &c, 1) == 1) {
			usleep(100000);
			if (kill(me, SIGUSR1))
				_exit(2);
		}
		_exit(0);
	}
	close(go[0]);

	test_enter("sigext");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	TEST_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);

	/* 1: spinning in guest code */
	t0 = now();
	TEST_ASSERT(t0 > 0);
	TEST_ASSERT(write(go[1], "1", 1) == 1);
	while (!got) {
		if ((++spins & 0xffff) == 0 && now() - t0 > 120)
			break;
		__asm__ volatile("pause");
	}
	TEST_ASSERT(got == SIGUSR1);
	TEST_ASSERT(got_cpl == 0);
	TEST_ASSERT(got_pid == child);

	/* 2: blocked in a host syscall */
	got = 0;
	got_pid = 0;
	TEST_ASSERT(write(go[1], "2", 1) == 1);
	r = pause();
	TEST_ASSERT(r == -1 && errno == EINTR);
	TEST_ASSERT(got == SIGUSR1 && got_pid == child);

	close(go[1]);
	TEST_ASSERT(waitpid(child, &r, 0) == child);
	TEST_ASSERT(WIFEXITED(r) && WEXITSTATUS(r) == 0);
	TEST_ASSERT(dune_in_guest());
	test_pass();
	return 0;
}
