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
#include <linux/sched.h>
#include <asm/processor.h>
#include <asm/msr.h>
#include <asm/fpu/xcr.h>
#include <asm/traps.h>
#include <asm/trapnr.h>
#include <uapi/asm/vmx.h>
#include <uapi/asm/unistd.h>

#include "dune_internal.h"
#include "vmx_ops.h"

static void skip_insn(struct dune_vcpu *vcpu)
{
	u32 intr;

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

void dune_handle_exit_irqoff(struct dune_vcpu *vcpu)
{
	u32 reason = vcpu->exit_reason & 0xffff;
	u32 info = vcpu->exit_intr_info;

	if (vcpu->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		if (reason == EXIT_REASON_MCE_DURING_VMENTRY)
			asm volatile("int $" __stringify(X86_TRAP_MC));
		return;
	}
	if (reason != EXIT_REASON_EXCEPTION_NMI || !(info & INTR_INFO_VALID_MASK))
		return;
	/* The NMI/#MC was consumed by the exit: hand it to the host handler. */
	if ((info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR)
		asm volatile("int $" __stringify(X86_TRAP_NMI));
	else if ((info & INTR_INFO_VECTOR_MASK) == X86_TRAP_MC)
		asm volatile("int $" __stringify(X86_TRAP_MC));
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
	u32 a, b, c, d;

	cpuid_count(vcpu->regs.rax, vcpu->regs.rcx, &a, &b, &c, &d);
	if ((u32)vcpu->regs.rax == 1)
		c &= ~(1u << (X86_FEATURE_VMX & 31));	/* no nested VMX */
	vcpu->regs.rax = a;
	vcpu->regs.rbx = b;
	vcpu->regs.rcx = c;
	vcpu->regs.rdx = d;
	skip_insn(vcpu);
	return 0;
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
	return DUNE_RET_SYSCALL;
}

static bool is_canonical(u64 v)
{
	return ((s64)(v << 16) >> 16) == (s64)v;
}

static int handle_wrmsr(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	u32 msr = vcpu->regs.rcx;
	u64 val = (vcpu->regs.rdx << 32) | (u32)vcpu->regs.rax;

	switch (msr) {
	case MSR_STAR:
		vcpu->g_star = val;
		break;
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!is_canonical(val)) {
			inject_exception(vcpu, X86_TRAP_GP, true, 0);
			return 0;
		}
		if (msr == MSR_LSTAR)
			vcpu->g_lstar = val;
		else
			vcpu->g_cstar = val;
		break;
	case MSR_SYSCALL_MASK:
		vcpu->g_sfmask = val & 0xffffffffULL;
		break;
	default:
		return unhandled(vcpu, conf);
	}
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

int dune_handle_exit(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	u32 reason = vcpu->exit_reason & 0xffff;

	if (vcpu->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		pr_err_ratelimited("VM entry failed, exit reason %#x, qualification %#llx\n",
				   vcpu->exit_reason, vcpu->exit_qual);
		conf->status = vcpu->exit_reason;
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
	case EXIT_REASON_EPT_VIOLATION:
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
		pr_err_ratelimited("EPT misconfiguration at GPA %#llx\n",
				   vcpu->exit_gpa);
		conf->status = reason;
		return DUNE_RET_UNHANDLED_VMEXIT;
	case EXIT_REASON_TRIPLE_FAULT:
	default:
		return unhandled(vcpu, conf);
	}
}
