/* user_fault: ring-3 code touches an unmapped address; the ring-0 page-fault
 * handler sees a CPL3 frame, the address and FEC_U, and ends the run. */
#include <errno.h>
#include <unistd.h>
#include "../test_util.h"

#define USER_STACK	16384
#define BAD_ADDR	0x5a5a000UL	/* low, never mapped in a -no-pie program */

static char user_stack[USER_STACK] __attribute__((aligned(16)));
static volatile uintptr_t seen_addr;
static volatile uint64_t seen_fec, seen_cs, seen_rip, seen_rsp, seen_rax;
static volatile int faults, kernel_faults, int3s;
static volatile uint64_t int3_cs;
static volatile long u_pid;

/* int3 from ring 3 (DPL3 gate): the handler returns, so ring 3 resumes, and a
 * syscall afterwards must still take the user entry path. */
static void int3_handler(struct dune_tf *tf)
{
	int3s++;
	int3_cs = tf->cs;
}

static void user_main(void)
{
	long pid;

	__asm__ volatile("int3" ::: "memory");
	__asm__ volatile("syscall" : "=a"(pid) : "a"(39L /* getpid */) : "rcx", "r11", "memory");
	u_pid = pid;
	__asm__ volatile("movq $0x1234, %%rax\n\t"
			 "movl $7, (%0)" : : "r"(BAD_ADDR + 0x10) : "rax", "memory");
	for (;;)
		;
}

static void pgflt(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	if (!(tf->cs & 3)) {
		kernel_faults++;
		dune_printf("FAIL user_fault: ring-0 page fault at %lx\n", (unsigned long)addr);
		dune_dump_trap_frame(tf);
		dune_die();
	}
	faults++;
	seen_addr = addr;
	seen_fec = fec;
	seen_cs = tf->cs;
	seen_rip = tf->rip;
	seen_rsp = tf->rsp;
	seen_rax = tf->rax;
	dune_dump_trap_frame(tf);
	dune_ret_from_user(-EFAULT);
}

int main(void)
{
	struct dune_tf tf;
	int r;

	test_enter("user_fault");
	test_share_image_with_ring3();
	dune_register_pgflt_handler(pgflt);
	dune_register_intr_handler(3, int3_handler);
	memset(&tf, 0, sizeof(tf));
	tf.rip = (uintptr_t)user_main;
	tf.rsp = (uintptr_t)user_stack + USER_STACK - 8;
	r = dune_jump_to_user(&tf);
	dune_register_pgflt_handler(NULL);
	printf("user run returned %d: fault at %lx fec %#lx cs %#lx rip %lx rsp %lx\n", r,
	       (unsigned long)seen_addr, (unsigned long)seen_fec, (unsigned long)seen_cs,
	       (unsigned long)seen_rip, (unsigned long)seen_rsp);
	TEST_ASSERT(dune_in_guest());
	TEST_ASSERT(r == -EFAULT);
	TEST_ASSERT(int3s == 1 && int3_cs == 0x33);
	TEST_ASSERT(u_pid == getpid());
	TEST_ASSERT(faults == 1);
	TEST_ASSERT(seen_addr == BAD_ADDR + 0x10);
	TEST_ASSERT(seen_fec & FEC_U);
	TEST_ASSERT(seen_fec & FEC_W);
	TEST_ASSERT(!(seen_fec & FEC_P));
	TEST_ASSERT(seen_cs == 0x33);
	TEST_ASSERT(seen_rax == 0x1234);
	TEST_ASSERT(seen_rip >= (uintptr_t)user_main && seen_rip < (uintptr_t)user_main + 256);
	TEST_ASSERT(seen_rsp > (uintptr_t)user_stack && seen_rsp <= (uintptr_t)user_stack + USER_STACK);
	/* ring 0 still works normally: syscalls and a second user run */
	TEST_ASSERT(dune_syscall6(39 /* getpid */, 0, 0, 0, 0, 0, 0) == getpid());
	dune_register_pgflt_handler(pgflt);
	faults = 0;
	r = dune_jump_to_user(&tf);
	dune_register_pgflt_handler(NULL);
	TEST_ASSERT(r == -EFAULT && faults == 1 && int3s == 2);
	test_pass();
	return 0;
}
