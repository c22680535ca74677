// SPDX-License-Identifier: GPL-2.0
/*
 * exits.c - VM exit handlers.
 *
 * dune_handle_exit_irqoff() runs right after the exit with interrupts still
 * off and only forwards NMIs and machine checks to the host.
 * dune_handle_exit() runs with preemption off and the VMCS current; it
 * returns 0 to re-enter, a DUNE_RET_* to go back to libdune (conf->status
 * set), or DUNE_EXIT_SLOW_* for work the run loop does preemptibly.
 * Anything the module does not emulate ends in DUNE_RET_UNHANDLED_VMEXIT
 * with status = the basic exit reason, never in a host crash.
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/pid.h>
#include <linux/cred.h>
#include <linux/entry-common.h>
#include <asm/mce.h>
#include <asm/processor.h>
#include <asm/msr.h>
#include <asm/fpu/xcr.h>
#include <asm/traps.h>
#include <asm/trapnr.h>
#include <uapi/asm/vmx.h>
#include <uapi/asm/unistd.h>

#include "dune_internal.h"
#include "vmx_ops.h"

/*
 * Complete guest system calls that cannot differ from what the host would
 * return, and have no side effect, without leaving the kernel (see
 * syscall_fastpath()).  0 makes every VMCALL go to libdune.
 */
static bool fastpath = true;
module_param(fastpath, bool, 0644);
MODULE_PARM_DESC(fastpath, "answer getpid/gettid/getppid/get[e]uid/get[e]gid VMCALLs in the kernel");

static void skip_insn(struct dune_vcpu *vcpu)
{
	u32 intr;

	vcpu->exit_insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	vcpu->rip += vcpu->exit_insn_len;
	vmcs_write(GUEST_RIP, vcpu->rip);
	/* Completing an instruction ends STI / MOV SS blocking. */
	intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   intr & ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
}

static void inject_exception(struct dune_vcpu *vcpu, u32 vector, bool has_error, u32 error)
{
	u32 info = vector | INTR_TYPE_HARD_EXCEPTION | INTR_INFO_VALID_MASK;

	dune_stat_inc(vcpu, exceptions_injected);

	if (has_error) {
		info |= INTR_INFO_DELIVER_CODE_MASK;
		vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
	}
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
}

static int unhandled(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	conf->status = vcpu->exit_reason & 0xffff;
	return DUNE_RET_UNHANDLED_VMEXIT;
}

/* As kvm_intel does: the kernel's handler, as if it interrupted user mode. */
static void machine_check(void)
{
	struct pt_regs regs = {
		.cs = 3,	/* whatever the guest ran, it is not the kernel */
		.flags = X86_EFLAGS_IF,
	};

	do_machine_check(&regs);
}

/*
 * Right after the exit, interrupts off: an NMI or a machine check that the
 * exit consumed goes to the kernel's own handler now.
 */
void dune_handle_exit_irqoff(struct dune_vcpu *vcpu)
{
	u32 reason = vcpu->exit_reason & 0xffff;
	u32 info;

	if (vcpu->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		if (reason == EXIT_REASON_MCE_DURING_VMENTRY)
			machine_check();
		return;
	}
	if (reason != EXIT_REASON_EXCEPTION_NMI)
		return;
	info = vmcs_read(VM_EXIT_INTR_INFO);
	vcpu->exit_intr_info = info;
	if (!(info & INTR_INFO_VALID_MASK))
		return;
	if ((info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR)
		dune_do_nmi_irqoff();
	else if ((info & INTR_INFO_VECTOR_MASK) == X86_TRAP_MC)
		machine_check();
}

static int handle_exception_nmi(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	u32 info = vcpu->exit_intr_info;

	if ((info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR ||
	    (info & INTR_INFO_VECTOR_MASK) == X86_TRAP_MC)
		return 0;	/* already forwarded to the host */
	return unhandled(vcpu, conf);
}

static int handle_cpuid(struct dune_vcpu *vcpu)
{
	u32 leaf = vcpu->regs.rax, sub = vcpu->regs.rcx;
	u32 a, b, c, d;

	cpuid_count(leaf, sub, &a, &b, &c, &d);
	if (leaf == 1)
		c &= ~(1u << (X86_FEATURE_VMX & 31));	/* no nested VMX */
	if (leaf == 0xd && sub == 1)
		a &= ~(1u << (X86_FEATURE_XSAVES & 31));	/* #UD in the guest */
	vcpu->regs.rax = a;
	vcpu->regs.rbx = b;
	vcpu->regs.rcx = c;
	vcpu->regs.rdx = d;
	skip_insn(vcpu);
	return 0;
}

/*
 * System calls whose result only depends on the thread's identity, answered
 * here exactly as the syscall would (the caller's pid namespace and user
 * namespace), so they cost one VM exit and nothing else: no return to user
 * space, no MSR switching.  Only when nothing watches this thread's system
 * calls - seccomp, ptrace, audit, syscall tracepoints and syscall user
 * dispatch all set syscall_work - otherwise libdune makes the real call and
 * everything that watches sees it.
 */
static bool syscall_fastpath(struct dune_vcpu *vcpu)
{
	long ret;

	if (!READ_ONCE(fastpath) || READ_ONCE(current_thread_info()->syscall_work))
		return false;
	switch (vcpu->regs.rax) {
	case __NR_getpid:
		ret = task_tgid_vnr(current);
		break;
	case __NR_gettid:
		ret = task_pid_vnr(current);
		break;
	case __NR_getppid:
		rcu_read_lock();
		ret = task_tgid_vnr(rcu_dereference(current->real_parent));
		rcu_read_unlock();
		break;
	case __NR_getuid:
		ret = from_kuid_munged(current_user_ns(), current_uid());
		break;
	case __NR_geteuid:
		ret = from_kuid_munged(current_user_ns(), current_euid());
		break;
	case __NR_getgid:
		ret = from_kgid_munged(current_user_ns(), current_gid());
		break;
	case __NR_getegid:
		ret = from_kgid_munged(current_user_ns(), current_egid());
		break;
	default:
		return false;
	}
	vcpu->regs.rax = ret;
	return true;
}

/*
 * VMCALL is the guest's system call: libdune runs it on the host.  Only
 * ring 0 (libdune) may make one: ring-3 code that libdune runs under itself
 * must go through its SYSCALL handler, so VMCALL at CPL > 0 is #UD, as it
 * would be outside VMX.  CPL is SS.DPL (SDM 3A 5.5), not CS.RPL.
 */
static int handle_vmcall(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	if ((vmcs_read(GUEST_SS_AR_BYTES) >> 5) & 3) {
		inject_exception(vcpu, X86_TRAP_UD, false, 0);
		return 0;
	}
	skip_insn(vcpu);
	if (vcpu->regs.rax == __NR_exit || vcpu->regs.rax == __NR_exit_group) {
		conf->status = (s64)vcpu->regs.rdi;
		return DUNE_RET_EXIT;
	}
	if (syscall_fastpath(vcpu))
		return 0;
	return DUNE_RET_SYSCALL;
}

static int handle_wrmsr(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	u32 msr = vcpu->regs.rcx;
	u64 val = (vcpu->regs.rdx << 32) | (u32)vcpu->regs.rax;

	switch (msr) {
	case MSR_STAR:
		vcpu->g_uret[DUNE_URET_STAR] = val;
		break;
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!dune_is_canonical(val)) {
			inject_exception(vcpu, X86_TRAP_GP, true, 0);
			return 0;
		}
		vcpu->g_uret[msr == MSR_LSTAR ? DUNE_URET_LSTAR : DUNE_URET_CSTAR] = val;
		break;
	case MSR_SYSCALL_MASK:
		vcpu->g_uret[DUNE_URET_SFMASK] = val & 0xffffffffULL;
		break;
	default:
		return unhandled(vcpu, conf);
	}
	/* The next entry loads it (dune_uret_load_guest()). */
	skip_insn(vcpu);
	return 0;
}

static int handle_rdmsr(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	u32 msr = vcpu->regs.rcx;
	u64 val;

	switch (msr) {
	case MSR_EFER:
		val = vmcs_read(GUEST_IA32_EFER);
		break;
	case MSR_IA32_TSC:
		val = rdtsc();
		break;
	default:
		return unhandled(vcpu, conf);
	}
	vcpu->regs.rax = (u32)val;
	vcpu->regs.rdx = val >> 32;
	skip_insn(vcpu);
	return 0;
}

/* The guest shares the host's XCR0; it may only "set" the same value. */
static int handle_xsetbv(struct dune_vcpu *vcpu)
{
	u64 val = (vcpu->regs.rdx << 32) | (u32)vcpu->regs.rax;

	if ((u32)vcpu->regs.rcx != XCR_XFEATURE_ENABLED_MASK ||
	    val != xgetbv(XCR_XFEATURE_ENABLED_MASK)) {
		inject_exception(vcpu, X86_TRAP_GP, true, 0);
		return 0;
	}
	skip_insn(vcpu);
	return 0;
}

/*
 * MOV to or from a debug register.  The debug registers stay the host's
 * (MOV-DR exiting keeps the guest off them).  A CPU checks the privilege
 * level before it makes this exit, so from CPL 3 the instruction raises #GP
 * in the guest; an emulator that exits first (Bochs) gets the same #GP here.
 * From CPL 0 there is no guest copy to give: the exit stays unhandled.
 */
static int handle_dr_access(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	if ((vmcs_read(GUEST_SS_AR_BYTES) >> 5) & 3) {
		inject_exception(vcpu, X86_TRAP_GP, true, 0);
		return 0;
	}
	return unhandled(vcpu, conf);
}

/*
 * exit_reason is vcpu->exit_reason, passed on its own so that a kprobe on
 * this function sees it in a register (tests/integration/test_dune_roundtrip.py).
 */
noinline int dune_handle_exit(struct dune_vcpu *vcpu, u32 exit_reason, struct dune_config *conf)
{
	u32 reason = exit_reason & 0xffff;

	if (exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		pr_err_ratelimited("VM entry failed, exit reason %#x, qualification %#lx\n",
				   exit_reason, vmcs_read(EXIT_QUALIFICATION));
		conf->status = exit_reason;
		return DUNE_RET_NOENTER;
	}

	switch (reason) {
	case EXIT_REASON_EXCEPTION_NMI:
		return handle_exception_nmi(vcpu, conf);
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		return 0;	/* taken by the host when IF was re-enabled */
	case EXIT_REASON_INTERRUPT_WINDOW:
		/* inject_pending() turns the window off once the queue drains. */
		return 0;
	case EXIT_REASON_CPUID:
		return handle_cpuid(vcpu);
	case EXIT_REASON_HLT:
		skip_insn(vcpu);
		return DUNE_EXIT_SLOW_HLT;
	case EXIT_REASON_VMCALL:
		return handle_vmcall(vcpu, conf);
	case EXIT_REASON_MSR_READ:
		return handle_rdmsr(vcpu, conf);
	case EXIT_REASON_MSR_WRITE:
		return handle_wrmsr(vcpu, conf);
	case EXIT_REASON_XSETBV:
		return handle_xsetbv(vcpu);
	case EXIT_REASON_DR_ACCESS:
		return handle_dr_access(vcpu, conf);
	case EXIT_REASON_EPT_VIOLATION:
		/* For the preemptible part, when the VMCS may not be current. */
		vcpu->exit_qual = vmcs_read(EXIT_QUALIFICATION);
		vcpu->exit_gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
		return DUNE_EXIT_SLOW_EPT;
	case EXIT_REASON_WBINVD:
	case EXIT_REASON_INVD:
		skip_insn(vcpu);	/* caches are coherent; nothing to do */
		return 0;
	case EXIT_REASON_VMCLEAR:
	case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD:
	case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME:
	case EXIT_REASON_VMWRITE:
	case EXIT_REASON_VMOFF:
	case EXIT_REASON_VMON:
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
	case EXIT_REASON_VMFUNC:
		/* CPUID hides VMX: behave like a CPU without it. */
		inject_exception(vcpu, X86_TRAP_UD, false, 0);
		return 0;
	case EXIT_REASON_EPT_MISCONFIG:
		pr_err_ratelimited("EPT misconfiguration at GPA %#lx\n",
				   vmcs_read(GUEST_PHYSICAL_ADDRESS));
		conf->status = reason;
		return DUNE_RET_UNHANDLED_VMEXIT;
	case EXIT_REASON_TRIPLE_FAULT:
	default:
		return unhandled(vcpu, conf);
	}
}
