/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmx_entry.S - enter the guest and come back.
 *
 * int dune_vmx_run(struct dune_gprs *regs, int launched)
 *
 * Loads the guest GPRs from *regs, VMLAUNCHes (launched == 0) or VMRESUMEs,
 * and on VM exit stores the guest GPRs back.  HOST_RIP is dune_vmx_return,
 * which is also where a failed VMLAUNCH/VMRESUME ends up, so both paths share
 * one stack layout: a VM exit clears RFLAGS (CF = ZF = 0), a VMfail sets CF
 * or ZF, and "setbe" tells them apart.  Returns 0 after a VM exit, 1 on VMfail.
 * Called with interrupts disabled.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/msr-index.h>
#include <asm/nospec-branch.h>
#include <asm/percpu.h>
#include <asm/segment.h>
#include <asm/unwind_hints.h>

/* VMCS field encoding of HOST_RSP (SDM appendix B). */
#define VMCS_HOST_RSP	0x6c14

#define R_RAX 0
#define R_RBX 8
#define R_RCX 16
#define R_RDX 24
#define R_RSI 32
#define R_RDI 40
#define R_RBP 48
#define R_R8  56
#define R_R9  64
#define R_R10 72
#define R_R11 80
#define R_R12 88
#define R_R13 96
#define R_R14 104
#define R_R15 112

	.text
SYM_FUNC_START(dune_vmx_run)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdi			/* regs pointer, needed after the exit */

	/* The host stack pointer the VM exit will restore: right here. */
	mov	$VMCS_HOST_RSP, %eax
	vmwrite	%rsp, %rax

	bt	$0, %esi		/* CF = launched; MOVs and VERW keep it */

	mov	R_RAX(%rdi), %rax
	mov	R_RBX(%rdi), %rbx
	mov	R_RCX(%rdi), %rcx
	mov	R_RDX(%rdi), %rdx
	mov	R_RSI(%rdi), %rsi
	mov	R_RBP(%rdi), %rbp
	mov	R_R8(%rdi), %r8
	mov	R_R9(%rdi), %r9
	mov	R_R10(%rdi), %r10
	mov	R_R11(%rdi), %r11
	mov	R_R12(%rdi), %r12
	mov	R_R13(%rdi), %r13
	mov	R_R14(%rdi), %r14
	mov	R_R15(%rdi), %r15
	mov	R_RDI(%rdi), %rdi

	/*
	 * MDS/TAA/MMIO/RFDS: clear CPU buffers last, with guest values in
	 * every register already (clobbers ZF only).
	 */
	CLEAR_CPU_BUFFERS

	jc	1f
	vmlaunch
	jmp	dune_vmx_return		/* VMfail: flags say so */
1:	vmresume
	/* VMfail of VMRESUME falls through; VM exits arrive here too. */
SYM_INNER_LABEL(dune_vmx_return, SYM_L_GLOBAL)
	push	%rdi			/* guest RDI; flags untouched from here... */
	mov	8(%rsp), %rdi
	mov	%rax, R_RAX(%rdi)
	mov	%rbx, R_RBX(%rdi)
	mov	%rcx, R_RCX(%rdi)
	mov	%rdx, R_RDX(%rdi)
	mov	%rsi, R_RSI(%rdi)
	mov	%rbp, R_RBP(%rdi)
	mov	%r8, R_R8(%rdi)
	mov	%r9, R_R9(%rdi)
	mov	%r10, R_R10(%rdi)
	mov	%r11, R_R11(%rdi)
	mov	%r12, R_R12(%rdi)
	mov	%r13, R_R13(%rdi)
	mov	%r14, R_R14(%rdi)
	mov	%r15, R_R15(%rdi)
	popq	R_RDI(%rdi)
	setbe	%bl			/* ...to here; the result stays in ebx */
	movzbl	%bl, %ebx

	/* Do not leave guest-controlled values in registers. */
	xor	%eax, %eax
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d

	/*
	 * Legacy IBRS must be rewritten after a less privileged mode ran, and
	 * the guest may have poisoned the RSB: scrub both before any RET.
	 */
	ALTERNATIVE "jmp 2f", "", X86_FEATURE_KERNEL_IBRS
	mov	$MSR_IA32_SPEC_CTRL, %ecx
	mov	PER_CPU_VAR(x86_spec_ctrl_current), %eax
	xor	%edx, %edx
	wrmsr
2:
	FILL_RETURN_BUFFER %rcx, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, X86_FEATURE_RSB_VMEXIT_LITE
	/* No speculation past here on guest-controlled state; BHI: clear history. */
	lfence
	CLEAR_BRANCH_HISTORY_VMEXIT	/* clobbers eax, ecx */

	mov	%ebx, %eax
	pop	%rdi
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(dune_vmx_run)

/*
 * void dune_do_nmi_irqoff(unsigned long unused)
 *
 * An NMI caused the VM exit and was consumed by it: run the kernel's NMI
 * handler the way the CPU would have, on this stack with an interrupt frame
 * (SS, RSP, RFLAGS, CS, return RIP), through the entry point the kernel
 * provides for hypervisors (asm_exc_nmi_noist: no IST switch).  Its IRET
 * returns here and unblocks NMIs, as the end of a real NMI would.
 * Interrupts are off.
 */
SYM_FUNC_START(dune_do_nmi_irqoff)
	push	%rbp
	mov	%rsp, %rbp
	and	$-16, %rsp		/* the CPU aligns the frame like this */
	push	$__KERNEL_DS
	push	%rbp			/* RSP to return to (IRET reloads it) */
	pushf
	push	$__KERNEL_CS
	call	asm_exc_nmi_noist	/* pushes the return RIP */
	/* IRET already restored RSP; say so for objtool too */
	mov	%rbp, %rsp
	pop	%rbp
	RET
SYM_FUNC_END(dune_do_nmi_irqoff)
