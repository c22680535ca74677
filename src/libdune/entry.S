/*
 * entry.S - libdune's assembly: dune_enter(), the guest boot stub, the
 * ring-0 SYSCALL entry, the 256 IDT stubs, and host-side helpers
 * (stack switch, FPU save/restore, raw clone, thread exit).
 *
 * struct dune_tf layout (dune.h): rax rbx rcx rdx rsi rdi rbp r8..r15
 * trapno err rip cs rflags rsp ss  -- 22 quadwords.
 */

#define TF_RAX		0
#define TF_TRAPNO	120
#define TF_CS		144
#define TF_RFLAGS	152
#define TF_RSP		160
#define TF_SIZE		176

#define GD_KT		0x10
#define GD_KD		0x18
#define GD_UT32		0x20
#define GD_UD		0x28
#define GD_UT		0x30
#define GD_TSS		0x40

#define MSR_STAR	0xC0000081
#define MSR_LSTAR	0xC0000082
#define MSR_SFMASK	0xC0000084
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_FS_BASE	0xC0000100

/* struct dune_user_state (user.c) */
#define US_SAVED_RSP	0
#define US_KSTACK	8
#define US_USER_RSP	16
#define US_USER_FS	24
#define US_KERNEL_FS	32

/* SYSCALL clears TF, DF, NT and AC.  IF is deliberately kept (see README:
 * signal delivery and SA_RESTART rely on interrupts inside the syscall path). */
#define SFMASK_VALUE	0x44500
/* While ring-3 code runs, SYSCALL also clears IF: the user entry stub runs
 * its first instructions on the user stack and must not be interrupted. */
#define SFMASK_USER	(SFMASK_VALUE | 0x200)

#define DUNE_TRAPNO_SYSCALL 0x100
#define SYS_munmap	11
#define SYS_ioctl	16
#define SYS_clone	56
#define SYS_exit	60

/* The SysV callee-saved registers, in the order dune_enter's saved[] expects
 * (saved[0..5] = r15 r14 r13 r12 rbx rbp). */
.macro PUSH_CALLEE_SAVED
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
.endm

.macro POP_CALLEE_SAVED
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
.endm

/* WRMSR of the 64-bit value in rax to MSR ecx.  Clobbers rdx. */
.macro WRMSR_RAX
	movq %rax, %rdx
	shrq $32, %rdx
	wrmsr
.endm

.macro PUSH_GPRS
	pushq %r15
	pushq %r14
	pushq %r13
	pushq %r12
	pushq %r11
	pushq %r10
	pushq %r9
	pushq %r8
	pushq %rbp
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rcx
	pushq %rbx
	pushq %rax
.endm

.macro POP_GPRS
	popq %rax
	popq %rbx
	popq %rcx
	popq %rdx
	popq %rsi
	popq %rdi
	popq %rbp
	popq %r8
	popq %r9
	popq %r10
	popq %r11
	popq %r12
	popq %r13
	popq %r14
	popq %r15
.endm

/*
 * The FPU/SSE/AVX save area at (%rsp), which the caller has made 64-byte
 * aligned and dune_fpu_size long: XSAVE (standard form) on every CPU with
 * it, else FXSAVE.  For XSAVE the header must be zeroed first (XRSTOR
 * faults on a non-zero XCOMP_BV or reserved header bytes).  Clobbers rax
 * and rdx.  One copy of the sequence for both callers below.
 */
.macro FPU_SAVE_AT_RSP
	cmpl $2, dune_fpu_mode(%rip)
	jne 81f
	xorl %eax, %eax
	movq %rax, 512(%rsp)
	movq %rax, 520(%rsp)
	movq %rax, 528(%rsp)
	movq %rax, 536(%rsp)
	movq %rax, 544(%rsp)
	movq %rax, 552(%rsp)
	movq %rax, 560(%rsp)
	movq %rax, 568(%rsp)
	movl $-1, %eax
	movl $-1, %edx
	xsave64 (%rsp)
	jmp 82f
81:	cmpl $1, dune_fpu_mode(%rip)
	jne 82f
	fxsave64 (%rsp)
82:
.endm

/* Restore what FPU_SAVE_AT_RSP saved at (%rsp).  Clobbers rax and rdx. */
.macro FPU_RESTORE_AT_RSP
	cmpl $2, dune_fpu_mode(%rip)
	jne 83f
	movl $-1, %eax
	movl $-1, %edx
	xrstor64 (%rsp)
	jmp 84f
83:	cmpl $1, dune_fpu_mode(%rip)
	jne 84f
	fxrstor64 (%rsp)
84:
.endm

/*
 * Call \fn(tf) with rsp == tf, preserving the interrupted context's
 * FPU/SSE/AVX state (handlers are ordinary compiled C and may use it).
 * The save area goes right below the frame, 64-byte aligned: there
 * dune_tf_fpu() finds it.  Clobbers rax, rdx, rbx (all saved in tf).
 */
.macro CALL_WITH_FPU fn
	movq %rsp, %rbx
	subq dune_fpu_size(%rip), %rsp
	andq $-64, %rsp
	FPU_SAVE_AT_RSP
	movq %rbx, %rdi
	cld
	call \fn
	FPU_RESTORE_AT_RSP
	movq %rbx, %rsp
.endm

/*
 * Call \fn(tf) with rsp == tf, without saving the FPU state: for the
 * syscall path (syscall.c), which is compiled not to touch vector registers.
 * Clobbers rbx (saved in tf).
 */
.macro CALL_GPR_ONLY fn
	movq %rsp, %rbx
	movq %rsp, %rdi
	andq $-16, %rsp
	cld
	call \fn
	movq %rbx, %rsp
.endm

	.text

/*
 * int dune_enter(void)
 * Push the callee-saved registers; dune_enter_c() records them (and our
 * return address) as the guest's starting state and never comes back here
 * on success: the guest "returns" from dune_enter via __dune_boot.
 */
	.globl dune_enter
	.type dune_enter, @function
dune_enter:
	.cfi_startproc
	PUSH_CALLEE_SAVED
	movq %rsp, %rdi
	subq $8, %rsp
	call dune_enter_c
	addq $8, %rsp
	POP_CALLEE_SAVED
	ret
	.cfi_endproc
	.size dune_enter, .-dune_enter

/*
 * void dune_host_return(uint64_t *saved, long value, void *unmap, size_t len)
 * Host only: undo dune_enter's pushes and return `value` from dune_enter
 * (used when the very first DUNE_ENTER fails).  Unmaps [unmap, +len) first
 * (the thread block whose stack we are running on).
 */
	.globl dune_host_return
	.hidden dune_host_return
	.type dune_host_return, @function
dune_host_return:
	movq %rdi, %r12
	movq %rsi, %r13
	movq %rdx, %rdi
	movq %rcx, %rsi
	movl $SYS_munmap, %eax
	syscall
	movq %r13, %rax
	movq %r12, %rsp
	POP_CALLEE_SAVED
	ret
	.size dune_host_return, .-dune_host_return

/*
 * Guest boot stub: the first code every new vCPU runs (CPL0, 64-bit, paging
 * on, GDTR/IDTR empty).  rdi = &thread->gdtr, rsi = &thread->boot_tf,
 * rsp = a mapped scratch stack.  Must not fault before lidt.
 */
	.globl __dune_boot
	.hidden __dune_boot
	.type __dune_boot, @function
__dune_boot:
	lgdt (%rdi)
	lidt dune_idtr(%rip)
	pushq $GD_KT
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movw $GD_KD, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $GD_TSS, %ax
	ltr %ax
	movl $MSR_LSTAR, %ecx
	leaq dune_syscall_entry(%rip), %rax
	WRMSR_RAX
	movl $MSR_STAR, %ecx
	xorl %eax, %eax
	movl $(((GD_UT32 | 3) << 16) | GD_KT), %edx
	wrmsr
	movl $MSR_SFMASK, %ecx
	movl $SFMASK_VALUE, %eax
	xorl %edx, %edx
	wrmsr
	movq %rsi, %rsp
	jmp dune_trap_return
	.size __dune_boot, .-__dune_boot

/*
 * SYSCALL entry (LSTAR), at CPL0: rcx = return rip, r11 = rflags, rsp is
 * still the caller's stack.  Skip the red zone, build a struct dune_tf, let
 * dune_syscall_dispatch() run it, and return with IRETQ (restores rsp,
 * rflags and rip atomically; rcx/r11 come back as SYSCALL defined them).
 */
	.globl dune_syscall_entry
	.hidden dune_syscall_entry
	.type dune_syscall_entry, @function
dune_syscall_entry:
	leaq -128(%rsp), %rsp
	pushq $GD_KD			/* ss */
	pushq %rax			/* rsp: fixed below */
	pushq %r11			/* rflags */
	pushq $GD_KT			/* cs */
	pushq %rcx			/* rip */
	pushq $0			/* err */
	pushq $DUNE_TRAPNO_SYSCALL	/* trapno */
	PUSH_GPRS
	leaq (TF_SIZE + 128)(%rsp), %rax
	movq %rax, TF_RSP(%rsp)
	CALL_GPR_ONLY dune_syscall_dispatch
	jmp dune_trap_return
	.size dune_syscall_entry, .-dune_syscall_entry

/* LSTAR/SFMASK for ring 0 (kernel) or while ring-3 code runs (user).
 * Clobber rax, rcx, rdx. */
.macro SYSCALL_MSRS entry, mask
	movl $MSR_LSTAR, %ecx
	leaq \entry(%rip), %rax
	WRMSR_RAX
	movl $MSR_SFMASK, %ecx
	movl $\mask, %eax
	xorl %edx, %edx
	wrmsr
.endm

/*
 * Ring 3 has its own FS base (its TLS, set with arch_prctl through the
 * syscall handler, or WRFSBASE), ring 0 needs libdune's (thread variables,
 * the stack-protector canary): swap them on every crossing, before any C
 * runs.  KERNEL_GS_BASE -> this thread's struct dune_user_state.
 * Interrupts off.  Clobber rax, rcx, rdx.
 */
.macro FS_TO_KERNEL
	swapgs
	movl $MSR_FS_BASE, %ecx
	rdmsr
	movl %eax, %gs:US_USER_FS
	movl %edx, %gs:(US_USER_FS + 4)
	movq %gs:US_KERNEL_FS, %rax
	WRMSR_RAX
	swapgs
.endm

.macro FS_TO_USER
	swapgs
	movl $MSR_FS_BASE, %ecx
	movq %gs:US_USER_FS, %rax
	WRMSR_RAX
	swapgs
.endm

/* void dune_user_msrs_kernel(void), dune_user_msrs_user(void) (C callable) */
	.globl dune_user_msrs_kernel
	.hidden dune_user_msrs_kernel
	.type dune_user_msrs_kernel, @function
dune_user_msrs_kernel:
	SYSCALL_MSRS dune_syscall_entry, SFMASK_VALUE
	ret
	.size dune_user_msrs_kernel, .-dune_user_msrs_kernel

	.globl dune_user_msrs_user
	.hidden dune_user_msrs_user
	.type dune_user_msrs_user, @function
dune_user_msrs_user:
	SYSCALL_MSRS dune_user_syscall_entry, SFMASK_USER
	ret
	.size dune_user_msrs_user, .-dune_user_msrs_user

/*
 * int dune_user_jump(const struct dune_tf *tf, struct dune_user_state *us)
 * Save the callee-saved registers and rflags, make the stack below them the
 * ring-0 stack for this user run (us->kstack, also TSS RSP0 via C), point
 * LSTAR at the user syscall stub and IRETQ into tf (CPL3).  "Returns" when
 * dune_ret_from_user() calls dune_user_return().
 * rdx = &tss.rsp[0] (written with the kernel stack top).
 */
	.globl dune_user_jump
	.hidden dune_user_jump
	.type dune_user_jump, @function
dune_user_jump:
	PUSH_CALLEE_SAVED
	pushfq
	movq %rsp, US_SAVED_RSP(%rsi)
	movq %rdx, %r13			/* rdmsr clobbers rdx */
	movl $MSR_FS_BASE, %ecx
	rdmsr
	movl %eax, US_KERNEL_FS(%rsi)
	movl %edx, (US_KERNEL_FS + 4)(%rsi)
	movq %r13, %rdx
	leaq -64(%rsp), %rax
	andq $-16, %rax
	movq %rax, US_KSTACK(%rsi)
	movq %rax, (%rdx)
	cli
	movq %rdi, %r12
	movl $MSR_KERNEL_GS_BASE, %ecx
	movq %rsi, %rax
	movq %rsi, %rdx
	shrq $32, %rdx
	wrmsr
	SYSCALL_MSRS dune_user_syscall_entry, SFMASK_USER
	movq %r12, %rsp
	jmp dune_trap_return
	.size dune_user_jump, .-dune_user_jump

/* void dune_user_return(uint64_t saved_rsp, long ret): back into dune_user_jump's caller. */
	.globl dune_user_return
	.hidden dune_user_return
	.type dune_user_return, @function
dune_user_return:
	movw $GD_KD, %ax
	movw %ax, %ds
	movw %ax, %es
	movq %rsi, %rax
	movq %rdi, %rsp
	popfq
	POP_CALLEE_SAVED
	ret
	.size dune_user_return, .-dune_user_return

/*
 * SYSCALL entry while ring-3 code runs (LSTAR is switched to this by
 * dune_user_jump).  SFMASK_USER cleared IF, rsp is the user's: switch to
 * the ring-0 stack via KERNEL_GS_BASE (-> struct dune_user_state), build a
 * dune_tf with the user's cs/ss, go back to the ring-0 MSRs, and dispatch
 * like a ring-0 syscall.  Returns with IRETQ to CPL3.
 */
	.globl dune_user_syscall_entry
	.hidden dune_user_syscall_entry
	.type dune_user_syscall_entry, @function
dune_user_syscall_entry:
	swapgs
	movq %rsp, %gs:US_USER_RSP
	movq %gs:US_KSTACK, %rsp
	pushq $(GD_UD | 3)		/* ss */
	pushq %gs:US_USER_RSP		/* rsp */
	swapgs
	pushq %r11			/* rflags */
	pushq $(GD_UT | 3)		/* cs */
	pushq %rcx			/* rip */
	pushq $0			/* err */
	pushq $DUNE_TRAPNO_SYSCALL	/* trapno */
	PUSH_GPRS
	FS_TO_KERNEL
	SYSCALL_MSRS dune_syscall_entry, SFMASK_VALUE
	btl $9, TF_RFLAGS(%rsp)
	jnc 1f
	sti
1:	CALL_GPR_ONLY dune_syscall_dispatch
	cli
	SYSCALL_MSRS dune_user_syscall_entry, SFMASK_USER
	jmp dune_trap_return
	.size dune_user_syscall_entry, .-dune_user_syscall_entry

/*
 * IDT stubs: 16 bytes each.  Push a zero error code where the CPU does not,
 * push the vector, go to the common code.  NMI, #DF and #MC run on their own
 * IST stack in place; everything else arrives on IST1 and is moved to the
 * interrupted stack (below its red zone) so handlers can nest.
 */
	.p2align 4
	.globl dune_trap_stubs
	.hidden dune_trap_stubs
dune_trap_stubs:
	vec = 0
	.rept 256
	.p2align 4
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	.if (vec == 2) || (vec == 8) || (vec == 18)
	jmp dune_trap_inplace
	.else
	jmp dune_trap_common
	.endif
	vec = vec + 1
	.endr

/* On IST1: [rsp] vector, err, rip, cs, rflags, rsp, ss. */
dune_trap_common:
	pushq %rax
	pushq %rbx
	/* 0 rbx, 8 rax, 16 vector, 24 err, 32 rip, 40 cs, 48 rflags, 56 rsp, 64 ss */
	leaq dune_trap_copy_start(%rip), %rax
	cmpq %rax, 32(%rsp)
	jb 1f
	leaq dune_trap_copy_end(%rip), %rax
	cmpq %rax, 32(%rsp)
	jae 1f
	jmp dune_trap_nested		/* faulted while moving a frame: stack is bad */
1:	testb $3, 40(%rsp)
	jz 2f
	/* from CPL3: move the frame to the ring-0 stack of dune_jump_to_user()
	 * (KERNEL_GS_BASE points at this thread's struct dune_user_state) */
	swapgs
	movq %gs:US_KSTACK, %rax
	swapgs
	jmp dune_trap_copy_start
2:	movq 56(%rsp), %rax
	subq $128, %rax
	andq $-16, %rax
dune_trap_copy_start:
	/* push the frame onto the target stack straight from the IST copy:
	 * one instruction per word (rbx = the IST frame) */
	movq %rsp, %rbx
	movq %rax, %rsp
	pushq 64(%rbx)			/* ss */
	pushq 56(%rbx)			/* rsp */
	pushq 48(%rbx)			/* rflags */
	pushq 40(%rbx)			/* cs */
	pushq 32(%rbx)			/* rip */
	pushq 24(%rbx)			/* err */
	pushq 16(%rbx)			/* vector */
dune_trap_copy_end:
	movq 8(%rbx), %rax
	movq 0(%rbx), %rbx
dune_trap_inplace:
	PUSH_GPRS
	testb $3, TF_CS(%rsp)
	jz 1f
	FS_TO_KERNEL
1:	CALL_WITH_FPU dune_trap_dispatch
	/* also the way into ring 3 (dune_user_jump) and back from a ring-3 syscall */
	.globl dune_trap_return
	.hidden dune_trap_return
dune_trap_return:
	testb $3, TF_CS(%rsp)
	jz 1f
	cli				/* IRETQ restores the user's IF */
	FS_TO_USER
1:	POP_GPRS
	addq $16, %rsp			/* trapno, err */
	iretq

dune_trap_nested:
	andq $-16, %rsp
	cld
	call dune_trap_nested_fatal
	ud2

/*
 * void dune_switch_stack(uintptr_t top, void (*fn)(void *), void *arg)
 */
	.globl dune_switch_stack
	.hidden dune_switch_stack
	.type dune_switch_stack, @function
dune_switch_stack:
	movq %rdi, %rsp
	movq %rdx, %rdi
	xorl %ebp, %ebp
	call *%rsi
	ud2
	.size dune_switch_stack, .-dune_switch_stack

/* void dune_fpu_save(void *area, int mode) */
	.globl dune_fpu_save
	.hidden dune_fpu_save
	.type dune_fpu_save, @function
dune_fpu_save:
	cmpl $2, %esi
	jne 1f
	movl $-1, %eax
	movl $-1, %edx
	xsave64 (%rdi)
	ret
1:	cmpl $1, %esi
	jne 2f
	fxsave64 (%rdi)
2:	ret
	.size dune_fpu_save, .-dune_fpu_save

/* void dune_fpu_restore(const void *area, int mode) */
	.globl dune_fpu_restore
	.hidden dune_fpu_restore
	.type dune_fpu_restore, @function
dune_fpu_restore:
	cmpl $2, %esi
	jne 1f
	movl $-1, %eax
	movl $-1, %edx
	xrstor64 (%rdi)
	ret
1:	cmpl $1, %esi
	jne 2f
	fxrstor64 (%rdi)
2:	ret
	.size dune_fpu_restore, .-dune_fpu_restore

/*
 * void dune_fpu_call(dune_fpu_fn fn, struct dune_tf *tf, void *arg)
 * Guest: fn(tf, area, arg) with the caller's FPU/SSE/AVX state saved in
 * area (on this stack, 64-byte aligned, as CALL_WITH_FPU does) and restored
 * from there when fn returns, for code that may use vector registers.
 */
	.globl dune_fpu_call
	.hidden dune_fpu_call
	.type dune_fpu_call, @function
dune_fpu_call:
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	movq %rdi, %r12
	movq %rsi, %rbx
	movq %rdx, %r13
	subq dune_fpu_size(%rip), %rsp
	andq $-64, %rsp
	FPU_SAVE_AT_RSP
	movq %rbx, %rdi
	movq %rsp, %rsi
	movq %r13, %rdx
	call *%r12
	FPU_RESTORE_AT_RSP
	leaq -24(%rbp), %rsp
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size dune_fpu_call, .-dune_fpu_call

/*
 * long dune_raw_clone(unsigned long flags, uintptr_t stack, void *ptid,
 *                     void *ctid, unsigned long tls, void (*fn)(void *), void *arg)
 * Host only.  The child runs fn(arg) on `stack` and exits if fn returns.
 */
	.globl dune_raw_clone
	.hidden dune_raw_clone
	.type dune_raw_clone, @function
dune_raw_clone:
	movq 8(%rsp), %rax
	andq $-16, %rsi
	subq $16, %rsi
	movq %r9, 0(%rsi)
	movq %rax, 8(%rsi)
	movq %rcx, %r10
	movl $SYS_clone, %eax
	syscall
	testq %rax, %rax
	jz 1f
	ret
1:	xorl %ebp, %ebp
	popq %rax
	popq %rdi
	call *%rax
	movl $SYS_exit, %eax
	xorl %edi, %edi
	syscall
	ud2
	.size dune_raw_clone, .-dune_raw_clone

/*
 * void dune_exit_unmap(void *addr, size_t len, long status)
 * Host only: munmap the block holding our own stack, then exit the thread.
 */
	.globl dune_exit_unmap
	.hidden dune_exit_unmap
	.type dune_exit_unmap, @function
dune_exit_unmap:
	movq %rdx, %r12
	movl $SYS_munmap, %eax
	syscall
	movq %r12, %rdi
	movl $SYS_exit, %eax
	syscall
	ud2
	.size dune_exit_unmap, .-dune_exit_unmap

/* Signal return trampoline for libdune's host handlers (SA_RESTORER). */
	.globl dune_sigreturn_tramp
	.hidden dune_sigreturn_tramp
	.type dune_sigreturn_tramp, @function
dune_sigreturn_tramp:
	movl $15, %eax		/* rt_sigreturn */
	syscall
	ud2
	.size dune_sigreturn_tramp, .-dune_sigreturn_tramp

	.section .note.GNU-stack, "", @progbits
