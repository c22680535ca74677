/* signal: kill(getpid(), SIGUSR1) inside Dune reaches the sigaction handler, in Dune mode;
 * blocking works; dune_register_signal_handler gets SIGUSR2 as vector 200+SIGUSR2. */
#include <signal.h>
#include <sched.h>
#include <unistd.h>
#include "../test_util.h"

static volatile int got, got_cpl = -1, got_pid, usr2;
static volatile uint64_t usr2_trapno;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got = sig;
	got_cpl = cpl();
	got_pid = si->si_pid;
}

static void on_usr2(struct dune_tf *tf)
{
	usr2++;
	usr2_trapno = tf->trapno;
}

static void wait_for(volatile int *flag)
{
	int i;

	for (i = 0; i < 100000 && !*flag; i++)
		sched_yield();
}

int main(void)
{
	struct sigaction sa;
	sigset_t set;

	test_enter("signal");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	TEST_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);

	TEST_ASSERT(kill(getpid(), SIGUSR1) == 0);
	wait_for(&got);
	TEST_ASSERT(got == SIGUSR1);
	TEST_ASSERT(got_cpl == 0);
	TEST_ASSERT(got_pid == getpid());

	/* blocked: not delivered until unblocked */
	got = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	TEST_ASSERT(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	TEST_ASSERT(kill(getpid(), SIGUSR1) == 0);
	sched_yield();
	TEST_ASSERT(got == 0);
	TEST_ASSERT(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	wait_for(&got);
	TEST_ASSERT(got == SIGUSR1);

	/* the old action reads back */
	{
		struct sigaction old;

		TEST_ASSERT(sigaction(SIGUSR1, NULL, &old) == 0);
		TEST_ASSERT(old.sa_sigaction == on_usr1);
	}

	/* libdune-level handler */
	TEST_ASSERT(signal(SIGUSR2, SIG_IGN) != SIG_ERR);	/* host keeps it ignored... */
	sa.sa_sigaction = on_usr1;
	TEST_ASSERT(sigaction(SIGUSR2, &sa, NULL) == 0);	/* ...until a handler exists */
	TEST_ASSERT(dune_register_signal_handler(SIGUSR2, on_usr2) == 0);
	TEST_ASSERT(kill(getpid(), SIGUSR2) == 0);
	wait_for(&usr2);
	TEST_ASSERT(usr2 == 1);
	TEST_ASSERT(usr2_trapno == DUNE_SIGNAL_INTR_BASE + SIGUSR2);
	test_pass();
	return 0;
}
