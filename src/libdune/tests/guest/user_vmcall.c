/* user_vmcall: ring-3 code tries to bypass the syscall handler with VMCALL
 * (libdune's hypercall for host syscalls).  dune.ko must refuse it at CPL3:
 * the guest takes #UD with the ring-3 frame, and no host syscall runs.
 * On the KVM back end (DUNE_BACKEND=kvm) VMCALL is KVM's hypercall, never libdune's
 * exit: at CPL3 KVM refuses it, as #UD or #GP (AMD: the #UD KVM intercepts to patch
 * VMCALL) or as an error in rax (Intel, -KVM_EPERM); again no host syscall runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../test_util.h"

#define USER_STACK	16384

static char user_stack[USER_STACK] __attribute__((aligned(16)));
static const char probe_path[] = "/tmp/dune-user-vmcall-probe";
static volatile int uds, fault_vec;
static volatile uint64_t ud_cs, ud_rip, ud_rax;
static volatile long vmcall_result = 0x7777;

/* ring 3: creat(probe_path) by hypercall; reaching the next line means the
 * module ran it */
static void user_main(void)
{
	long r;

	__asm__ volatile("vmcall" : "=a"(r)
			 : "a"(85L /* creat */), "D"(probe_path), "S"(0600L)
			 : "rcx", "r11", "memory");
	vmcall_result = r;
	for (;;)
		__asm__ volatile("int3");
}

static void ud_handler(struct dune_tf *tf)
{
	uds++;
	fault_vec = (int)tf->trapno;
	ud_cs = tf->cs;
	ud_rip = tf->rip;
	ud_rax = tf->rax;
	dune_ret_from_user(-EPERM);
}

static void int3_handler(struct dune_tf *tf)
{
	(void)tf;
	dune_ret_from_user(-EINVAL);
}

int main(void)
{
	struct dune_tf tf;
	const char *be = getenv("DUNE_BACKEND");
	bool kvm = be && !strcmp(be, "kvm");
	int r;

	unlink(probe_path);
	test_enter("user_vmcall");
	test_share_image_with_ring3();
	dune_register_intr_handler(6, ud_handler);
	dune_register_intr_handler(3, int3_handler);
	memset(&tf, 0, sizeof(tf));
	tf.rip = (uintptr_t)user_main;
	tf.rsp = (uintptr_t)user_stack + USER_STACK - 8;
	if (kvm)
		dune_register_intr_handler(13, ud_handler);
	r = dune_jump_to_user(&tf);
	printf("user run returned %d: fault x%d (vector %d) cs %#lx rip %lx rax %lu, vmcall result %ld\n", r, uds,
	       fault_vec, (unsigned long)ud_cs, (unsigned long)ud_rip, (unsigned long)ud_rax, vmcall_result);
	if (kvm && r == -EINVAL) {
		/* KVM answered the hypercall itself with an error; the program went on to its int3 */
		TEST_ASSERT(uds == 0 && vmcall_result != 0x7777 && vmcall_result < 0);
		TEST_ASSERT(access(probe_path, F_OK) != 0 && errno == ENOENT);
		TEST_ASSERT(dune_syscall6(39 /* getpid */, 0, 0, 0, 0, 0, 0) == getpid());
		test_pass();
		return 0;
	}
	TEST_ASSERT(r == -EPERM);
	TEST_ASSERT(fault_vec == 6 || (kvm && fault_vec == 13));
	TEST_ASSERT(uds == 1);
	TEST_ASSERT(ud_cs == 0x33);
	/* the fault points at the VMCALL itself (first bytes of user_main) */
	TEST_ASSERT(ud_rip >= (uintptr_t)user_main && ud_rip < (uintptr_t)user_main + 64);
	TEST_ASSERT(*(const uint8_t *)ud_rip == 0x0f && ((const uint8_t *)ud_rip)[2] == 0xc1);
	TEST_ASSERT(ud_rax == 85);
	TEST_ASSERT(vmcall_result == 0x7777);
	TEST_ASSERT(access(probe_path, F_OK) != 0 && errno == ENOENT);
	/* ring-0 VMCALLs (every syscall here) still work */
	TEST_ASSERT(dune_syscall6(39 /* getpid */, 0, 0, 0, 0, 0, 0) == getpid());
	test_pass();
	return 0;
}
