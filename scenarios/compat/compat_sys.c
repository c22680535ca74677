/*
 * compat_sys: the original test program's process-level checks, in its
 * style: fork in Dune (child in Dune too), pthreads (each thread in Dune;
 * both call dune_enter() as the original required),
 * dune_signal, a syscall handler reading arguments with ARG0..ARG3, the
 * process-map iterator, and the layout names (mmap_base, phys_limit,
 * dune_mmap_addr_to_pa, dune_mmap).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libdune/dune.h"

#define NTHREADS	4
#define MAGIC_NR	777	/* a syscall number Linux does not have */

static volatile int got_signal;
static volatile int signal_cpl = -1;

static void sig_handler(int sig)
{
	got_signal = sig;
	signal_cpl = read_cs() & 3;
}

static volatile uint64_t seen_args[4];

static void syscall_handler(struct dune_tf *tf)
{
	if (tf->rax == MAGIC_NR) {
		seen_args[0] = ARG0(tf);
		seen_args[1] = ARG1(tf);
		seen_args[2] = ARG2(tf);
		seen_args[3] = ARG3(tf);
		tf->rax = 4242;
		return;
	}
	dune_passthrough_syscall(tf);
}

static void *thread_main(void *arg)
{
	long id = (long)arg;

	/* the original's threads entered Dune themselves: a no-op here */
	if (dune_enter())
		return (void *)-2L;
	/* every thread created in Dune mode runs in Dune mode */
	if ((read_cs() & 3) != 0 || PTE_ADDR(read_cr3()) != dune_va_to_pa(pgroot))
		return (void *)-1L;
	return (void *)(id * 10);
}

static int anon_seen, stack_seen, self_seen;

static void procmap_cb(const struct dune_procmap_entry *e)
{
	uintptr_t here = (uintptr_t)&procmap_cb;

	if (e->type == PROCMAP_TYPE_ANONYMOUS)
		anon_seen++;
	if (e->type == PROCMAP_TYPE_STACK)
		stack_seen++;
	if (here >= e->begin && here < e->end && e->x && e->type == PROCMAP_TYPE_FILE)
		self_seen++;
}

int main(void)
{
	pthread_t th[NTHREADS];
	long i, r;
	pid_t pid;
	int status;
	char *p;

	if (dune_init_and_enter()) {
		printf("FAIL compat_sys: dune_init_and_enter\n");
		return 1;
	}

	/* --- layout names */
	p = dune_mmap(NULL, PGSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("FAIL compat_sys: dune_mmap\n");
		return 1;
	}
	p[0] = 1;	/* mapped in the guest */
	if ((uintptr_t)p < mmap_base || dune_mmap_addr_to_pa(p) != dune_va_to_pa(p) ||
	    dune_va_to_pa(p) >= phys_limit) {
		printf("FAIL compat_sys: mmap_base %lx phys_limit %lx: pa of %p is %lx, expected %lx\n",
		       (unsigned long)mmap_base, (unsigned long)phys_limit, (void *)p,
		       (unsigned long)dune_mmap_addr_to_pa(p), (unsigned long)dune_va_to_pa(p));
		return 1;
	}
	if (dune_stack_addr_to_pa(&p) != dune_va_to_pa(&p)) {
		printf("FAIL compat_sys: dune_stack_addr_to_pa\n");
		return 1;
	}

	/* --- process maps */
	dune_procmap_iterate(procmap_cb);
	if (!anon_seen || stack_seen != 1 || self_seen != 1) {
		printf("FAIL compat_sys: procmap anon %d stack %d text %d\n", anon_seen, stack_seen, self_seen);
		return 1;
	}

	/* --- dune_signal: the handler runs in Dune mode */
	dune_signal(SIGUSR1, sig_handler);
	kill(getpid(), SIGUSR1);
	for (i = 0; i < 1000000 && !got_signal; i++)
		__asm__ volatile("pause");
	if (got_signal != SIGUSR1 || signal_cpl != 0) {
		printf("FAIL compat_sys: signal %d seen at cpl %d\n", got_signal, signal_cpl);
		return 1;
	}

	/* --- syscall handler and the argument convention */
	dune_register_syscall_handler(syscall_handler);
	r = syscall(MAGIC_NR, 11L, 22L, 33L, 44L, 55L, 66L);
	dune_register_syscall_handler(NULL);
	if (r != 4242 || seen_args[0] != 11 || seen_args[1] != 22 || seen_args[2] != 33 || seen_args[3] != 44) {
		printf("FAIL compat_sys: syscall handler saw %lu %lu %lu %lu (ret %ld)\n",
		       (unsigned long)seen_args[0], (unsigned long)seen_args[1],
		       (unsigned long)seen_args[2], (unsigned long)seen_args[3], r);
		return 1;
	}

	/* --- threads */
	for (i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, thread_main, (void *)i)) {
			printf("FAIL compat_sys: pthread_create\n");
			return 1;
		}
	for (i = 0; i < NTHREADS; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		if ((long)ret != i * 10) {
			printf("FAIL compat_sys: thread %ld returned %ld\n", i, (long)ret);
			return 1;
		}
	}

	/* --- fork: the child is in Dune too, with its own copy of memory */
	p[0] = 5;
	pid = fork();
	if (pid < 0) {
		printf("FAIL compat_sys: fork\n");
		return 1;
	}
	if (pid == 0) {
		if (dune_enter() || (read_cs() & 3) != 0 || p[0] != 5)
			_exit(1);
		p[0] = 9;
		_exit(7);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7 || p[0] != 5) {
		printf("FAIL compat_sys: fork child status %#x, parent sees %d\n", status, p[0]);
		return 1;
	}
	printf("PASS compat_sys\n");
	return 0;
}
