/* user_signal: a SIGALRM arrives while ring-3 code spins; the ring-0 signal
 * handler sees the CPL3 frame, ring 3 resumes and sees the flag, then ends
 * the run with a syscall. */
#include <signal.h>
#include <sys/time.h>
#include "../test_util.h"

#define SYS_USER_DONE	0x7777
#define USER_STACK	16384

static char user_stack[USER_STACK] __attribute__((aligned(16)));
static volatile int got_alarm, user_saw;
static volatile uint64_t alarm_cs;

static void on_alarm(struct dune_tf *tf)
{
	alarm_cs = tf->cs;
	got_alarm = 1;
}

static void on_alarm_sig(int sig)	/* a host-side disposition must exist; not expected to run */
{
	(void)sig;
	got_alarm = 2;
}

static void user_main(void)
{
	while (!got_alarm)
		;
	user_saw = 1;
	__asm__ volatile("syscall" : : "a"((long)SYS_USER_DONE), "D"(5L) : "rcx", "r11", "memory");
	for (;;)
		;
}

static void handler(struct dune_tf *tf)
{
	if ((tf->cs & 3) && tf->rax == SYS_USER_DONE)
		dune_ret_from_user((int)tf->rdi);
	dune_passthrough_syscall(tf);
}

int main(void)
{
	struct itimerval it = { { 0, 0 }, { 0, 20000 } };
	struct sigaction sa;
	struct dune_tf tf;
	int r;

	test_enter("user_signal");
	test_share_image_with_ring3();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm_sig;
	TEST_ASSERT(sigaction(SIGALRM, &sa, NULL) == 0);
	TEST_ASSERT(dune_register_signal_handler(SIGALRM, on_alarm) == 0);
	dune_register_syscall_handler(handler);
	memset(&tf, 0, sizeof(tf));
	tf.rip = (uintptr_t)user_main;
	tf.rsp = (uintptr_t)user_stack + USER_STACK - 8;
	TEST_ASSERT(setitimer(ITIMER_REAL, &it, NULL) == 0);
	r = dune_jump_to_user(&tf);
	dune_register_syscall_handler(NULL);
	printf("user run returned %d, alarm %d (cs %#lx), user saw it %d\n", r, got_alarm,
	       (unsigned long)alarm_cs, user_saw);
	TEST_ASSERT(r == 5);
	TEST_ASSERT(got_alarm == 1 && user_saw == 1);
	TEST_ASSERT(alarm_cs == 0x33);
	test_pass();
	return 0;
}
