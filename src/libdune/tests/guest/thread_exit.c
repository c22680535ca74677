/*
 * thread_exit: exit() from a thread that is not the main one ends the whole
 * process, while the main thread is blocked in pthread_join and two other
 * Dune threads spin without making syscalls (so only the host's exit_group
 * can stop their vCPUs).  The exiting thread prints PASS first; the harness
 * needs status 0, so a hang (SIGKILL by the watchdog, 137) or any other
 * status fails.
 */
#include <pthread.h>
#include <unistd.h>
#include "../test_util.h"

static volatile unsigned long spins[2];

static void *spinner(void *arg)
{
	volatile unsigned long *n = arg;

	for (;;)
		(*n)++;
	return NULL;
}

static void *exiter(void *arg)
{
	unsigned long a0 = spins[0], a1 = spins[1];

	(void)arg;
	/* wait until both spinners demonstrably run in parallel with us */
	while (spins[0] < a0 + 1000000 || spins[1] < a1 + 1000000)
		usleep(1000);
	TEST_ASSERT(dune_in_guest());
	test_pass();
	exit(0);
}

int main(void)
{
	pthread_t t[3];

	test_enter("thread_exit");
	TEST_ASSERT(pthread_create(&t[0], NULL, spinner, (void *)&spins[0]) == 0);
	TEST_ASSERT(pthread_create(&t[1], NULL, spinner, (void *)&spins[1]) == 0);
	TEST_ASSERT(pthread_create(&t[2], NULL, exiter, NULL) == 0);
	pthread_join(t[2], NULL);
	printf("FAIL thread_exit: pthread_join returned: the process outlived exit()\n");
	return 1;
}
