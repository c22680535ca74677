/* dunelab direct boot, stage 1: the boot sector of a one-sector floppy (Bochs only).
 *
 * Bochs has already put everything in guest RAM (optramimage, see directboot.py): the kernel's
 * real-mode setup at 0x10000, its command line at 0x1e000, the long-mode hook at 0x1f000, page
 * tables at 0x20000, the kernel at 16 MiB and the initrd above it. All that is left for a boot
 * sector is what a boot loader does last (Documentation/x86/boot.rst, "Running the kernel"):
 * segments = 0x1000, stack at the end of the setup heap, far jump to 0x1020:0.
 * It prints a mark on COM1 first (the console log's `loader` phase) and refuses, with a message,
 * to jump into a setup that is not there ("HdrS" at 0x10202).
 *
 * Assembled at image build: gcc -nostdlib -Wl,-Ttext=0x7c00 ..., objcopy -O binary.
 */
	.code16
	.text
	.globl	_start
_start:
	cli
	cld
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$hello, %si
	call	puts
	movw	$0x1000, %ax
	movw	%ax, %es
	cmpl	$0x53726448, %es:0x202		/* "HdrS": the kernel's setup header is in place */
	jne	nosetup
	movw	%ax, %ds
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movw	$0xe000, %sp			/* heap_end: the host sets heap_end_ptr = 0xde00 */
	ljmp	$0x1020, $0

nosetup:
	movw	$broken, %si
	call	puts
1:	hlt
	jmp	1b

/* puts: write the NUL-terminated string at %ds:%si to COM1, polling THR empty. */
puts:
	lodsb
	testb	%al, %al
	jz	2f
	movb	%al, %bl
	movw	$0x3fd, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jz	1b
	movw	$0x3f8, %dx
	movb	%bl, %al
	outb	%al, %dx
	jmp	puts
2:	ret

hello:	.asciz	"dunelab-boot: direct kernel entry\r\n"
broken:	.asciz	"dunelab-boot: no kernel setup at 0x10000 (was guest RAM loaded?)\r\n"

	.org	510
	.byte	0x55, 0xaa
