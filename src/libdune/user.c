/*
 * user.c - ring 3 in Dune mode: dune_jump_to_user() / dune_ret_from_user().
 *
 * A user run borrows the caller's stack: dune_user_jump (entry.S) saves the
 * callee-saved registers and rflags there, and the stack below them becomes
 * the ring-0 ("kernel") stack for the run (struct dune_user_state.kstack,
 * also TSS RSP0).  While ring-3 code runs:
 *   - LSTAR points at dune_user_syscall_entry and SFMASK also clears IF, so
 *     the stub can swapgs (KERNEL_GS_BASE = this thread's dune_user_state),
 *     switch to kstack and build a dune_tf with cs 0x33 / ss 0x2b;
 *   - exceptions and interrupts (all on IST1) see CPL3 in the saved cs and
 *     move their frame to kstack instead of the user stack;
 * and in both cases the ring-0 LSTAR/SFMASK and FS base are restored before
 * any C code runs, and the user ones re-installed just before IRETQ back to
 * ring 3.  Ring 3 has its own FS base (its TLS): dune_set_ring3_fs().
 * A ring-0 handler ends the run with dune_ret_from_user(ret), which unwinds
 * to dune_jump_to_user's caller.
 */
#include <errno.h>

#include "internal.h"

struct dune_user_state {
	uint64_t saved_rsp;	/* 0: dune_user_jump's saved registers (entry.S US_SAVED_RSP) */
	uint64_t kstack;	/* 8: ring-0 stack top for this run (US_KSTACK) */
	uint64_t user_rsp;	/* 16: scratch for the syscall stub (US_USER_RSP) */
	uint64_t user_fs;	/* 24: ring 3's FS base while ring 0 runs (US_USER_FS) */
	uint64_t kernel_fs;	/* 32: ring 0's FS base while ring 3 runs (US_KERNEL_FS) */
	int active;
	bool user_fs_set;	/* dune_set_ring3_fs() called for the next/current run */
};

static __thread struct dune_user_state dune_ustate __attribute__((tls_model("initial-exec")));

/* entry.S */
int dune_user_jump(const struct dune_tf *tf, struct dune_user_state *us, uint64_t *rsp0) HIDDEN;
void dune_user_return(uint64_t saved_rsp, long ret) HIDDEN __attribute__((noreturn));

bool dune_user_active(void)
{
	return dune_ustate.active != 0;
}

int dune_jump_to_user(struct dune_tf *tf)
{
	struct dune_thread *t = dune_self;
	struct dune_user_state *us = &dune_ustate;
	struct dune_tf frame;
	int ret;

	if (!t || !dune_in_guest())
		return -EPERM;
	if (us->active)
		return -EBUSY;
	frame = *tf;
	frame.cs = GD_UT | 3;
	frame.ss = GD_UD | 3;
	/* IF on, IOPL 0, no NT/VM/AC tricks; keep the arithmetic flags and TF */
	frame.rflags = (frame.rflags & 0xDD5 /* CF PF AF ZF SF TF DF OF */) | X86_EFLAGS_IF | X86_EFLAGS_FIXED;
	frame.trapno = 0;
	frame.err = 0;
	if (!us->user_fs_set)
		us->user_fs = dune_get_user_fs();	/* default: share ring 0's TLS */
	us->active = 1;
	ret = dune_user_jump(&frame, us, (uint64_t *)((char *)&t->tss + 4));
	us->active = 0;
	us->user_fs_set = false;
	return ret;
}

int dune_set_ring3_fs(uint64_t fs)
{
	if (fs >= VA_USER_LIMIT)
		return -EPERM;	/* as arch_prctl: no kernel half (and WRMSR would #GP on non-canonical) */
	dune_ustate.user_fs = fs;
	dune_ustate.user_fs_set = true;
	return 0;
}

uint64_t dune_get_ring3_fs(void)
{
	struct dune_user_state *us = &dune_ustate;

	return us->active || us->user_fs_set ? us->user_fs : dune_get_user_fs();
}

void dune_ret_from_user(int ret)
{
	struct dune_user_state *us = &dune_ustate;

	if (!us->active || cpl() != 0) {
		dune_printf("dune: dune_ret_from_user() outside a dune_jump_to_user() run\n");
		dune_die();
	}
	cli();
	dune_syscall_handler_done();
	dune_user_return(us->saved_rsp, ret);
}
