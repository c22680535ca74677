/* dunelab direct boot, stage 2: the kernel's code32_start hook, at 0x1f000 (Bochs only).
 *
 * The kernel's own real-mode setup (entered from the boot sector) has asked the BIOS for the
 * memory map, filled boot_params and switched to 32-bit protected mode; its last act is a jump to
 * code32_start, which normally is the XZ decompressor and here is this hook (boot.rst allows a boot
 * loader to hook it). State on entry: flat 32-bit CS, %esi = boot_params, interrupts off, paging off.
 *
 * The decompressor's work was done on the host: vmlinux's segments already sit at their physical
 * addresses. So enter long mode on identity page tables (built by the host at 0x20000, 4 GiB in
 * 2 MiB pages) and jump to vmlinux's startup_64 with %rsi = boot_params: the 64-bit boot protocol,
 * the same entry the decompressor takes when it is done. The entry address lives at offset 0x100
 * (written by the host).
 *
 * Assembled at image build: gcc -nostdlib -Wl,-Ttext=0x1f000 ..., objcopy -O binary.
 */
	.code32
	.text
	.globl	_start
_start:
	cli
	movl	%cr4, %eax
	orl	$0x20, %eax			/* CR4.PAE */
	movl	%eax, %cr4
	movl	$0x20000, %eax			/* PML4 */
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
long_mode:
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%esi, %esi			/* boot_params, zero-extended */
	movq	entry(%rip), %rax
	jmp	*%rax

	.org	0x100
entry:	.quad	0				/* vmlinux's e_entry (physical), written by the host */
	.balign	16
gdt:	.quad	0
	.quad	0
	.quad	0x00af9a000000ffff		/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff		/* 0x18: flat data */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	gdt
