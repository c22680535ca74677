/*
 * linux_interpose.c - syscall interposition with ptrace: a tracer that sees
 * (PTRACE_GETREGS at each syscall-entry stop) and passes (PTRACE_SYSCALL)
 * every system call of its child.  The child times each of its getpid calls,
 * which now cost two ptrace stops and the switches to the tracer and back.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "getpid.h"
#include "timing.h"
#include "trap.h"

#define WARMUP 20

static void __attribute__((noreturn)) traced_child(long n, uint64_t overhead, volatile uint64_t *out)
{
	long pid, i;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		_exit(2);
	raise(SIGSTOP);			/* the tracer takes over from here */
	pid = syscall_getpid();
	for (i = 0; i < WARMUP; i++)
		syscall_getpid();
	for (i = 0; i < n; i++) {
		uint64_t t0 = tsc_begin();
		long got = syscall_getpid();
		uint64_t t1 = tsc_end();

		if (got != pid)
			_exit(3);
		out[i] = tsc_net(t0, t1, overhead);
	}
	_exit(0);
}

void linux_interpose(const struct params *p, struct result *r)
{
	size_t bytes = (size_t)p->n * sizeof(uint64_t);
	volatile uint64_t *shared;
	long entries = 0, getpids = 0;
	bool in_syscall = false;
	pid_t pid;
	int st;

	r->overhead = tsc_overhead(1000);
	shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		fail("mmap of the shared sample buffer failed");
	pid = fork();
	if (pid < 0)
		fail("fork failed");
	if (pid == 0)
		traced_child(p->n, r->overhead, shared);

	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		fail("traced child did not stop (status %#x)", st);
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)))
		fail("PTRACE_SETOPTIONS failed");
	if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
		fail("PTRACE_SYSCALL failed");
	for (;;) {
		if (waitpid(pid, &st, 0) != pid)
			fail("waitpid on the traced child failed");
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			/* A syscall stop: entry and exit alternate. */
			in_syscall = !in_syscall;
			if (in_syscall) {
				struct user_regs_struct regs;

				if (ptrace(PTRACE_GETREGS, pid, NULL, &regs))
					fail("PTRACE_GETREGS failed");
				entries++;
				if (regs.orig_rax == SYS_getpid)
					getpids++;
			}
			if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
				fail("PTRACE_SYSCALL failed");
		} else if (WIFSTOPPED(st)) {
			/* Any other stop: pass the signal on. */
			if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)WSTOPSIG(st)))
				fail("PTRACE_SYSCALL failed");
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("traced child ended with status %#x", st);
	if (getpids != p->n + WARMUP + 1)
		fail("tracer saw %ld getpid calls (%ld syscalls), expected %ld", getpids, entries,
		     p->n + WARMUP + 1);

	r->samples = alloc_samples((size_t)p->n);
	for (long i = 0; i < p->n; i++)
		r->samples[i] = shared[i];
	r->nsamples = (size_t)p->n;
	r->ops_per_sample = 1;
	r->param_keys = "n";
	munmap((void *)shared, bytes);
}
