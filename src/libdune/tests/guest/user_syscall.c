/* user_syscall: ring-3 code makes syscalls; the ring-0 handler passes getpid/write
 * through, denies getuid with -EPERM, and ends the run on USER_DONE. */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../test_util.h"

#define SYS_USER_DONE	0x7777
#define USER_STACK	16384

static char user_stack[USER_STACK] __attribute__((aligned(16)));
static const char user_msg[] = "hello from ring 3\n";
static volatile long u_pid, u_uid, u_write, expected_pid;
static volatile uint64_t u_cs;
static volatile int user_calls, denied, bad_frame;

static inline long user_syscall3(long nr, long a0, long a1, long a2)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "rcx", "r11", "memory");
	return ret;
}

static void user_main(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	u_cs = cs;
	u_pid = user_syscall3(SYS_getpid, 0, 0, 0);
	u_write = user_syscall3(SYS_write, 1, (long)user_msg, sizeof(user_msg) - 1);
	u_uid = user_syscall3(SYS_getuid, 0, 0, 0);
	user_syscall3(SYS_USER_DONE,
		      (u_uid == -EPERM && u_pid == expected_pid &&
		       u_write == (long)sizeof(user_msg) - 1 && (u_cs & 3) == 3) ? 1 : 2, 0, 0);
	for (;;)
		;
}

static void handler(struct dune_tf *tf)
{
	if (!(tf->cs & 3)) {		/* ring-0 syscalls (printf, ...) */
		dune_passthrough_syscall(tf);
		return;
	}
	user_calls++;
	if (tf->cs != 0x33 || tf->ss != 0x2b ||
	    tf->rsp < (uintptr_t)user_stack || tf->rsp >= (uintptr_t)user_stack + USER_STACK)
		bad_frame++;
	if (tf->rax == SYS_getuid) {
		denied++;
		tf->rax = (uint64_t)-EPERM;
		return;
	}
	if (tf->rax == SYS_USER_DONE)
		dune_ret_from_user((int)tf->rdi);
	dune_passthrough_syscall(tf);
}

int main(void)
{
	struct dune_tf tf;
	int r;

	test_enter("user_syscall");
	test_share_image_with_ring3();
	expected_pid = getpid();
	dune_register_syscall_handler(handler);

	memset(&tf, 0, sizeof(tf));
	tf.rip = (uintptr_t)user_main;
	tf.rsp = (uintptr_t)user_stack + USER_STACK - 8;	/* as after a call */
	r = dune_jump_to_user(&tf);
	dune_register_syscall_handler(NULL);
	printf("user run returned %d (calls %d, denied %d, pid %ld, uid %ld, write %ld, cs %#lx)\n",
	       r, user_calls, denied, u_pid, u_uid, u_write, (unsigned long)u_cs);
	TEST_ASSERT(dune_in_guest());
	TEST_ASSERT(r == 1);
	TEST_ASSERT(user_calls == 4);
	TEST_ASSERT(denied == 1);
	TEST_ASSERT(bad_frame == 0);
	TEST_ASSERT(u_pid == expected_pid);
	TEST_ASSERT(u_uid == -EPERM);
	TEST_ASSERT(getuid() == (uid_t)dune_syscall6(SYS_getuid, 0, 0, 0, 0, 0, 0));	/* ring 0 not denied */

	/* a second run works too (state was reset) */
	dune_register_syscall_handler(handler);
	user_calls = 0;
	r = dune_jump_to_user(&tf);
	dune_register_syscall_handler(NULL);
	TEST_ASSERT(r == 1);
	TEST_ASSERT(user_calls == 4);
	test_pass();
	return 0;
}
