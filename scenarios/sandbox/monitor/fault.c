/*
 * fault.c - exceptions.  From ring 3 they become the program's signals, as
 * Linux would send them (#PF -> SIGSEGV with the address, #UD -> SIGILL,
 * #DE -> SIGFPE, int3 -> SIGTRAP, #GP -> SIGSEGV, ...).  The ways into
 * ring 0 other than SYSCALL end here and are reported: int 0x80 (a #GP on
 * the IDT gate, DPL 0), sysenter (#GP/#UD), VMCALL (#UD from dune.ko at
 * CPL3): the program is killed with SIGSYS, like a seccomp kill, and the
 * attempt is logged.  From ring 0 a fault is either an expected one (a copy
 * from the program's memory, see uaccess.S: it returns -EFAULT), libdune's
 * lazy mapping of the monitor's own memory, or a monitor bug (fatal).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbx.h"

extern char sbx_uaccess_start[], sbx_uaccess_end[], sbx_uaccess_fixup[];

static void __attribute__((noreturn)) monitor_fault(struct dune_tf *tf, const char *what, uint64_t addr)
{
	dune_printf("dune-sandbox: monitor fault in ring 0: %s at rip %llx, address %llx\n", what,
		    (unsigned long long)tf->rip, (unsigned long long)addr);
	dune_dump_trap_frame(tf);
	sbx_log_event("monitor_fault", "\"what\":\"%s\",\"rip\":\"0x%llx\",\"addr\":\"0x%llx\"", what,
		      (unsigned long long)tf->rip, (unsigned long long)addr);
	for (;;)
		syscall(SYS_exit_group, 128 + SIGSEGV);
}

static void on_pgflt(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	if (!(tf->cs & 3)) {
		if (tf->rip >= (uintptr_t)sbx_uaccess_start && tf->rip < (uintptr_t)sbx_uaccess_end) {
			tf->rip = (uintptr_t)sbx_uaccess_fixup;	/* a bad pointer of the program's: -EFAULT */
			return;
		}
		if (!(fec & (FEC_P | FEC_RSV)) && dune_pgflt_sync(addr) == 0)
			return;	/* the monitor's own memory, mapped lazily */
		monitor_fault(tf, "page fault", addr);
	}
	sbx_fault(tf, SIGSEGV, (fec & FEC_P) ? SEGV_ACCERR : SEGV_MAPERR, addr, "page fault");
}

/* Read the instruction bytes at the program's rip (for the report); 0 if unreadable. */
static uint32_t insn_at(uint64_t rip)
{
	uint32_t w = 0;

	if (sbx_copy_in(&w, rip, 4) && sbx_copy_in(&w, rip, 2))
		return 0;
	return w;
}

static void __attribute__((noreturn)) entry_attempt(struct dune_tf *tf, const char *what)
{
	S.ndenied++;
	sbx_log_event("entry", "\"what\":\"%s\",\"rip\":\"0x%llx\",\"rax\":%lld,\"decision\":\"kill\","
		      "\"signal\":%d", what, (unsigned long long)tf->rip, (long long)tf->rax, SIGSYS);
	sbx_die_by_signal(SIGSYS);
}

static void on_trap(struct dune_tf *tf)
{
	uint64_t v = tf->trapno;
	uint32_t insn;
	int sig = SIGSEGV, code = SI_KERNEL;
	uint64_t addr = 0;
	const char *what = "general protection";

	if (!(tf->cs & 3))
		monitor_fault(tf, "exception", v);
	switch (v) {
	case 0:		/* #DE */
		sig = SIGFPE, code = FPE_INTDIV, addr = tf->rip, what = "divide error";
		break;
	case 1:		/* #DB: single step (TF) or int1 */
		sig = SIGTRAP, code = TRAP_TRACE, addr = tf->rip, what = "debug";
		break;
	case 3:		/* int3 */
		sig = SIGTRAP, code = SI_KERNEL, what = "breakpoint";
		break;
	case 4:		/* int 4 (DPL 3 gate) */
		sig = SIGSEGV, what = "overflow";
		break;
	case 5:
		sig = SIGSEGV, what = "bound range";
		break;
	case 6:		/* #UD */
		insn = insn_at(tf->rip);
		if ((insn & 0xffffff) == 0xc1010f)
			entry_attempt(tf, "vmcall");
		if ((insn & 0xffffff) == 0xd9010f)
			entry_attempt(tf, "vmmcall");
		if ((insn & 0xffff) == 0x340f)
			entry_attempt(tf, "sysenter");
		if ((insn & 0xffff) == 0x050f)
			entry_attempt(tf, "syscall outside 64-bit mode");
		sig = SIGILL, code = ILL_ILLOPN, addr = tf->rip, what = "invalid opcode";
		break;
	case 7:
		sig = SIGSEGV, what = "device not available";
		break;
	case 10:
		sig = SIGSEGV, what = "invalid TSS";
		break;
	case 11:
		sig = SIGBUS, what = "segment not present";
		break;
	case 12:
		sig = SIGBUS, what = "stack segment";
		break;
	case 13:	/* #GP */
		insn = insn_at(tf->rip);
		if (tf->err == ((0x80 << 3) | 2) && (insn & 0xffff) == 0x80cd)
			entry_attempt(tf, "int 0x80");
		if ((insn & 0xffff) == 0x340f)
			entry_attempt(tf, "sysenter");
		if ((insn & 0xff) == 0xcd && (tf->err & 3) == 2)
			what = "software interrupt";
		break;
	case 16:
		sig = SIGFPE, code = FPE_FLTINV, addr = tf->rip, what = "x87 error";
		break;
	case 17:
		sig = SIGBUS, code = BUS_ADRALN, what = "alignment check";
		break;
	case 19:
		sig = SIGFPE, code = FPE_FLTINV, addr = tf->rip, what = "SIMD error";
		break;
	default:
		what = "exception";
		break;
	}
	sbx_fault(tf, sig, code, addr, what);
}

void sbx_faults_init(void)
{
	static const int vecs[] = { 0, 1, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 15, 16, 17, 19, 20, 21, 22, 23, 24,
				    25, 26, 27, 28, 29, 30, 31 };
	size_t i;

	dune_register_pgflt_handler(on_pgflt);
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		dune_register_intr_handler(vecs[i], on_trap);
}
