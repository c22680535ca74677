/*
 * uaccess.S - the monitor's only way to touch the program's memory: a copy
 * that may fault.  A page fault in ring 0 whose rip lies in
 * [sbx_uaccess_start, sbx_uaccess_end) is not fatal: the fault handler
 * (fault.c) resumes at sbx_uaccess_fixup, which returns -EFAULT, as a
 * kernel's exception table would.  rep movsb is the only instruction that
 * can fault here.
 */
	.text

/* int sbx_uaccess_copy(void *dst, const void *src, size_t n): 0 or -EFAULT */
	.globl sbx_uaccess_copy
	.type sbx_uaccess_copy, @function
sbx_uaccess_copy:
	movq %rdx, %rcx
	xorl %eax, %eax
	.globl sbx_uaccess_start
sbx_uaccess_start:
	rep movsb
	.globl sbx_uaccess_end
sbx_uaccess_end:
	ret
	.globl sbx_uaccess_fixup
sbx_uaccess_fixup:
	cld
	movl $-14, %eax		/* -EFAULT */
	ret
	.size sbx_uaccess_copy, .-sbx_uaccess_copy

	.section .note.GNU-stack, "", @progbits
