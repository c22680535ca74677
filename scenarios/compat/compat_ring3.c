/*
 * compat_ring3: the original's ring-3 pattern - the program's own function
 * run in ring 3 on a stack of its own, its system calls seen by a ring-0
 * syscall handler that passes them through or ends the run - behind the
 * compat opt-in DUNE_COMPAT_RING3_ALL_MEMORY.  Without the opt-in (the
 * native dune_jump_to_user, reached as `(dune_jump_to_user)(tf)`), the same
 * code must fault: dunelab's ring 3 sees none of the program's memory.
 * Then N ring-3 getpid calls are timed with dune_get_ticks (one metric).
 */
#define DUNE_COMPAT_RING3_ALL_MEMORY
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libdune/dune.h"

#define MAGIC_EXIT	778
#define N		1000

static char user_stack[64 * 1024] __attribute__((aligned(16)));
static volatile int user_entered;
static volatile long user_pid;
static unsigned long ticks[N];
static volatile int ring3_calls;

static long user_syscall0(long nr)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static void __attribute__((noinline)) user_main(void)
{
	int i;

	user_entered = 1;		/* the program's own static memory */
	user_pid = user_syscall0(SYS_getpid);
	for (i = 0; i < N; i++) {
		unsigned long t0 = dune_get_ticks();

		user_syscall0(SYS_getpid);
		ticks[i] = dune_get_ticks() - t0;
	}
	user_syscall0(MAGIC_EXIT);
	for (;;)
		;
}

static void syscall_handler(struct dune_tf *tf)
{
	if (tf->cs & 3) {
		ring3_calls++;
		if (tf->rax == MAGIC_EXIT)
			dune_ret_from_user(0x77);
	}
	dune_passthrough_syscall(tf);
}

static void setup_tf(struct dune_tf *tf)
{
	memset(tf, 0, sizeof(*tf));
	tf->rip = (uintptr_t)user_main;
	tf->rsp = (uintptr_t)(user_stack + sizeof(user_stack)) - 8;
	tf->rflags = 0x2;
}

static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	struct dune_tf tf;
	unsigned long min_empty = ~0UL;
	int ret, i;

	if (dune_init_and_enter()) {
		printf("FAIL compat_ring3: dune_init_and_enter\n");
		return 1;
	}
	dune_register_syscall_handler(syscall_handler);

	/* dunelab's own ring 3: the program's code is not user memory */
	setup_tf(&tf);
	ret = (dune_jump_to_user)(&tf);
	if (ret != DUNE_USER_FAULT_BASE + SIGSEGV || user_entered) {
		printf("FAIL compat_ring3: native ring 3 ran the program's code (ret %#x)\n", ret);
		return 1;
	}

	/* the original's ring 3, opted in */
	setup_tf(&tf);
	ret = dune_jump_to_user(&tf);
	if (ret != 0x77 || !user_entered || user_pid != getpid() || ring3_calls != N + 2) {
		printf("FAIL compat_ring3: ret %#x entered %d pid %ld calls %d\n", ret, user_entered,
		       user_pid, ring3_calls);
		return 1;
	}
	dune_register_syscall_handler(NULL);

	for (i = 0; i < 1000; i++) {
		unsigned long t0 = dune_get_ticks(), t1 = dune_get_ticks();

		if (t1 - t0 < min_empty)
			min_empty = t1 - t0;
	}
	qsort(ticks, N, sizeof(ticks[0]), cmp_ul);
	printf("DUNELAB-METRIC {\"name\": \"compat_ring3_syscall\", \"variant\": \"dune\", \"unit\": \"tsc\", "
	       "\"samples\": [");
	for (i = 0; i < N; i++)
		printf("%s%lu", i ? ", " : "", ticks[i] > min_empty ? ticks[i] - min_empty : 0);
	printf("], \"overhead\": %lu, \"ops_per_sample\": 1, \"params\": {\"n\": %d}}\n", min_empty, N);
	printf("PASS compat_ring3: median ring-3 getpid %lu ticks\n", ticks[N / 2]);
	return 0;
}
