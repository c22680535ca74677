/* segsel: a VM exit loads the host's FS/GS selectors from the VMCS (null), but a
 * thread's own selectors must come back: here the thread's %gs holds an LDT
 * selector (set with modify_ldt before entering Dune), and a helper process
 * stops the Dune thread with ptrace while it makes syscalls and reads its
 * registers, which the kernel saved at the context switch: gs must still be the
 * LDT selector, with the LDT still in place. */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

#define LDT_SEL 0x7		/* LDT entry 0, TI = 1, RPL 3 */

struct shared {
	volatile int ready;	/* the Dune thread is making syscalls */
	volatile int done;
	volatile long gs;	/* what ptrace saw */
	volatile long fs;
};

int main(void)
{
	struct user_desc d = {
		.entry_number = 0, .base_addr = 0, .limit = 0xfffff, .seg_32bit = 1,
		.contents = 0, .read_exec_only = 0, .limit_in_pages = 1, .useable = 1,
	};
	struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t self = getpid(), helper;
	int status;
	long n = 0;

	test_name = "segsel";
	TEST_ASSERT(sh != MAP_FAILED);
	TEST_ASSERT(syscall(SYS_modify_ldt, 1, &d, sizeof(d)) == 0);
	__asm__ volatile("movw %w0, %%gs" : : "r"(LDT_SEL));

	helper = fork();
	TEST_ASSERT(helper >= 0);
	if (helper == 0) {
		struct user_regs_struct regs;

		while (!sh->ready)
			usleep(1000);
		if (ptrace(PTRACE_SEIZE, self, 0, 0) || ptrace(PTRACE_INTERRUPT, self, 0, 0) ||
		    waitpid(self, &status, __WALL) != self || ptrace(PTRACE_GETREGS, self, 0, &regs)) {
			sh->gs = -1;
		} else {
			sh->gs = regs.gs;
			sh->fs = regs.fs;
		}
		ptrace(PTRACE_DETACH, self, 0, 0);
		sh->done = 1;
		_exit(0);
	}

	test_enter("segsel");
	while (!sh->done) {
		/* write(): a round trip to the host loop, whatever dune.ko answers itself */
		n += syscall(SYS_write, -1, "", 0) == -1;
		sh->ready = n > 100;
	}
	TEST_ASSERT(waitpid(helper, &status, 0) == helper);
	printf("segsel: ptrace saw gs %#lx fs %#lx after %ld syscalls\n", sh->gs, sh->fs, n);
	TEST_ASSERT(n > 100);
	TEST_ASSERT(sh->gs == LDT_SEL);
	TEST_ASSERT(sh->fs == 0);
	test_pass();
	return 0;
}
