/*
 * user_dr: ring 3 moves to and from debug registers.  On a CPU the privilege check comes before the
 * MOV-DR VM exit, so each is a #GP in the guest; an emulator that exits first (Bochs) must get the
 * same #GP from dune.ko, not a killed process.  The ring-0 #GP handler sees each one from CPL 3 and
 * resumes ring 3 after it; ring 3 then ends the run with a system call.
 */
#include <errno.h>
#include <unistd.h>
#include "../test_util.h"

#define USER_STACK	16384
#define N_DR		4
#define SYS_USER_DONE	0x5eedL	/* no such system call: ring 3's way to end the run */

static char user_stack[USER_STACK] __attribute__((aligned(16)));
extern char dr_insn0[], dr_insn1[], dr_insn2[], dr_insn3[];
extern char dr_after0[], dr_after1[], dr_after2[], dr_after3[];
static char *const insn[N_DR] = {dr_insn0, dr_insn1, dr_insn2, dr_insn3};
static char *const after[N_DR] = {dr_after0, dr_after1, dr_after2, dr_after3};
static volatile int gps, wrong;
static volatile uint64_t seen_cs[N_DR], seen_err[N_DR];

static void user_main(void)
{
	__asm__ volatile(".globl dr_insn0, dr_after0, dr_insn1, dr_after1\n"
			 ".globl dr_insn2, dr_after2, dr_insn3, dr_after3\n"
			 "dr_insn0: movq %%dr7, %%rax\n"
			 "dr_after0: movq $0x3, %%rax\n"
			 "dr_insn1: movq %%rax, %%dr7\n"
			 "dr_after1: movq %%rax, %%rax\n"
			 "dr_insn2: movq %%dr6, %%rax\n"
			 "dr_after2: movq $0x1000, %%rax\n"
			 "dr_insn3: movq %%rax, %%dr0\n"
			 "dr_after3:\n"
			 ::: "rax", "memory");
	/* ends the run: dune_jump_to_user() returns the number of #GPs ring 3 saw */
	__asm__ volatile("syscall" : : "a"(SYS_USER_DONE), "D"((long)gps) : "rcx", "r11", "memory");
	for (;;)
		;
}

static void gp_handler(struct dune_tf *tf)
{
	int i = gps;

	if (!(tf->cs & 3) || i >= N_DR || tf->rip != (uintptr_t)insn[i]) {
		wrong++;
		dune_printf("FAIL user_dr: unexpected #GP\n");
		dune_dump_trap_frame(tf);
		dune_die();
	}
	seen_cs[i] = tf->cs;
	seen_err[i] = tf->err;
	gps = i + 1;
	tf->rip = (uintptr_t)after[i];
}

static void syscall_handler(struct dune_tf *tf)
{
	if ((tf->cs & 3) && tf->rax == SYS_USER_DONE)
		dune_ret_from_user((int)tf->rdi);
	dune_passthrough_syscall(tf);
}

int main(void)
{
	struct dune_tf tf;
	int i, r;

	test_enter("user_dr");
	test_share_image_with_ring3();
	TEST_ASSERT(dune_register_intr_handler(T_GP, gp_handler) == 0);
	dune_register_syscall_handler(syscall_handler);
	memset(&tf, 0, sizeof(tf));
	tf.rip = (uintptr_t)user_main;
	tf.rsp = (uintptr_t)user_stack + USER_STACK - 8;
	r = dune_jump_to_user(&tf);
	dune_register_syscall_handler(NULL);
	printf("user run returned %d after %d #GP\n", r, gps);
	TEST_ASSERT(dune_in_guest());
	TEST_ASSERT(wrong == 0);
	TEST_ASSERT(gps == N_DR && r == N_DR);
	for (i = 0; i < N_DR; i++)
		TEST_ASSERT(seen_cs[i] == 0x33 && seen_err[i] == 0);
	/* the process is fine afterwards: a syscall from ring 0 */
	TEST_ASSERT(dune_syscall6(39 /* getpid */, 0, 0, 0, 0, 0, 0) == getpid());
	test_pass();
	return 0;
}
