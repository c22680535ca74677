#define _GNU_SOURCE
/* thread: pthread_create inside Dune; threads run in Dune, do syscalls, join with values. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../test_util.h"

#define NTHREADS 8

static pid_t pid, main_tid;

static void *worker(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	char msg[64];
	int i;

	if (!dune_in_guest() || getpid() != pid || gettid() == main_tid)
		return (void *)1;
	if ((read_cr3() & PTE_ADDR) != dune_pgroot_pa())
		return (void *)2;
	for (i = 0; i < 1000; i++)
		if (getpid() != pid)
			return (void *)3;
	snprintf(msg, sizeof(msg), "thread %lu (tid %d) in Dune\n", (unsigned long)n, gettid());
	if (write(1, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return (void *)4;
	{
		char *p = malloc(100000);

		if (!p)
			return (void *)5;
		memset(p, (int)n, 100000);
		free(p);
	}
	return (void *)(n * 1000 + 7);
}

int main(void)
{
	pthread_t th[NTHREADS];
	uintptr_t i;

	pid = getpid();
	main_tid = gettid();
	test_enter("thread");
	for (i = 0; i < NTHREADS; i++)
		TEST_ASSERT(pthread_create(&th[i], NULL, worker, (void *)i) == 0);
	for (i = 0; i < NTHREADS; i++) {
		void *ret = NULL;

		TEST_ASSERT(pthread_join(th[i], &ret) == 0);
		if ((uintptr_t)ret != i * 1000 + 7)
			printf("thread %lu returned %lu\n", (unsigned long)i, (unsigned long)(uintptr_t)ret);
		TEST_ASSERT((uintptr_t)ret == i * 1000 + 7);
	}
	TEST_ASSERT(dune_in_guest());
	test_pass();
	return 0;
}
