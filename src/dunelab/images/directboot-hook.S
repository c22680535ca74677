/* dunelab direct boot: the protected-mode entry of vmlinuz-direct (see directboot.py).
 *
 * A boot loader (isolinux) loads vmlinuz-direct like any bzImage: the kernel's real-mode setup,
 * and this protected-mode part at 0x100000. The setup asks the BIOS for the memory map, fills
 * boot_params and jumps here (code32_start) in flat 32-bit mode with %esi = boot_params,
 * interrupts off, paging off -- where a distribution kernel has its XZ decompressor, which Bochs
 * runs at emulated speed for half a cold boot. The kernel behind this page was decompressed on the
 * host; here it only has to be put in place:
 *   1. move it to its load address (LOAD_PHYSICAL_ADDR: the ranges overlap, so last byte first),
 *   2. zero what follows it (.bss, .brk: trailing zeros are not stored in the file),
 *   3. identity-map 4 GiB with 2 MiB pages, enter long mode,
 *   4. jump to vmlinux's startup_64 with %rsi = boot_params: the 64-bit boot protocol, the jump
 *      the decompressor makes when it is done.
 * The host writes the parameters at offset 0x100. Linked at 0x100000 (gcc -Wl,-Ttext=0x100000).
 */
	.code32
	.text
	.globl	_start
_start:
	cli
	cld
	movl	%esi, %ebp			/* boot_params, kept for the kernel */

	movl	len, %ecx			/* 1. move the kernel, last dword first */
	shrl	$2, %ecx
	movl	src, %esi
	addl	len, %esi
	subl	$4, %esi
	movl	dst, %edi
	addl	len, %edi
	subl	$4, %edi
	std
	rep movsl
	cld

	movl	dst, %edi			/* 2. zero its tail */
	addl	len, %edi
	movl	zero_len, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl

	movl	$pml4, %edi			/* 3. page tables: clear six pages, then link */
	movl	$(6 * 4096 / 4), %ecx
	rep stosl
	movl	$(pml4 + 0x1000 + 3), pml4	/* PML4[0] -> PDPT */
	movl	$(pml4 + 0x2000 + 3), pml4 + 0x1000	/* PDPT[0..3] -> four page directories */
	movl	$(pml4 + 0x3000 + 3), pml4 + 0x1008
	movl	$(pml4 + 0x4000 + 3), pml4 + 0x1010
	movl	$(pml4 + 0x5000 + 3), pml4 + 0x1018
	movl	$(pml4 + 0x2000), %edi		/* 2048 PDEs: i * 2 MiB | PS | RW | P */
	movl	$0x83, %eax
	movl	$2048, %ecx
1:	movl	%eax, (%edi)
	addl	$0x200000, %eax
	addl	$8, %edi
	loop	1b

	movl	%cr4, %eax
	orl	$0x20, %eax			/* CR4.PAE */
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx		/* IA32_EFER */
	rdmsr
	orl	$0x100, %eax			/* EFER.LME */
	wrmsr
	lgdt	gdt_desc
	movl	%cr0, %eax
	orl	$0x80000001, %eax		/* CR0.PG | CR0.PE */
	movl	%eax, %cr0
	ljmp	$0x10, $long_mode

	.code64
long_mode:					/* 4. into the kernel */
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%ebp, %esi			/* zero-extends: %rsi = boot_params */
	movq	entry(%rip), %rax
	jmp	*%rax

	.org	0x100				/* parameters, written by the host (directboot.py) */
entry:	.quad	0				/* vmlinux's e_entry: startup_64, physical */
src:	.long	0				/* where the kernel's bytes are now */
dst:	.long	0				/* where they go: LOAD_PHYSICAL_ADDR */
len:	.long	0				/* how many (a multiple of 4 KiB) */
zero_len: .long	0				/* bytes to zero after them, up to the kernel's end */

	.balign	16
gdt:	.quad	0
	.quad	0
	.quad	0x00af9a000000ffff		/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff		/* 0x18: flat data */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	gdt

	.org	0x1000
pml4:						/* six pages of page tables follow (not in the file) */
