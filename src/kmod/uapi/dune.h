/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * dune.h - the user/kernel ABI of /dev/dune.
 *
 * This header is shared verbatim by the kernel module (src/kmod) and libdune
 * (src/libdune).  The values below are an ABI that existing Dune programs
 * hard-code (IOCTL_DUNE_ENTER == 0x80b0e901), so they must never change;
 * new features get new ioctl numbers.
 */
#ifndef DUNE_UAPI_H
#define DUNE_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define DUNE_MINOR 233		/* misc minor old code expects; also the ioctl type byte */

/* Register state handed to DUNE_ENTER and returned when the guest leaves. */
struct dune_config {
	__s64 ret;		/* 0x00: one of DUNE_RET_* on return */
	__u64 rax;		/* 0x08 */
	__u64 rbx;		/* 0x10 */
	__u64 rcx;		/* 0x18 */
	__u64 rdx;		/* 0x20 */
	__u64 rsi;		/* 0x28 */
	__u64 rdi;		/* 0x30 */
	__u64 rsp;		/* 0x38 */
	__u64 rbp;		/* 0x40 */
	__u64 r8;		/* 0x48 */
	__u64 r9;		/* 0x50 */
	__u64 r10;		/* 0x58 */
	__u64 r11;		/* 0x60 */
	__u64 r12;		/* 0x68 */
	__u64 r13;		/* 0x70 */
	__u64 r14;		/* 0x78 */
	__u64 r15;		/* 0x80 */
	__u64 rip;		/* 0x88 */
	__u64 rflags;		/* 0x90 */
	__u64 cr3;		/* 0x98 */
	__s64 status;		/* 0xa0: exit code when ret == DUNE_RET_EXIT */
	__u64 vcpu;		/* 0xa8 */
} __attribute__((packed));

/* Values of dune_config.ret. */
#define DUNE_RET_EXIT			1	/* guest called exit/exit_group */
#define DUNE_RET_EPT_VIOLATION		2	/* access outside the process's memory */
#define DUNE_RET_INTERRUPT		3
#define DUNE_RET_SIGNAL			4
#define DUNE_RET_UNHANDLED_VMEXIT	5
#define DUNE_RET_NOENTER		6
#define DUNE_RET_SYSCALL		7	/* guest executed VMCALL: see "Protocol" below */

/*
 * Protocol (dunelab's design; DUNE_ENTER keeps the original ioctl number and struct).
 *
 * DUNE_ENTER with conf.vcpu == 0 creates the calling thread's vCPU (one per
 * thread), loads rip/rsp/rflags/cr3 and the general registers from conf, takes
 * the guest FS/GS bases from the calling thread, and runs the guest in VMX
 * non-root ring 0.  The ioctl returns 0 with conf filled (all registers, rip
 * already past the exiting instruction, conf.vcpu = the vCPU's id) whenever
 * the guest needs the host:
 *   DUNE_RET_SYSCALL  VMCALL: rax = syscall number, args in rdi, rsi, rdx,
 *                     r10, r8, r9.  libdune runs the syscall on the host (on
 *                     its own host stack, never the guest's), stores the
 *                     result in conf.rax and resumes.  Doing syscalls in host
 *                     context makes fork/clone/vfork/execve/rt_sigreturn and
 *                     signal delivery behave exactly as Linux defines them.
 *   DUNE_RET_SIGNAL   a host signal is pending; returning from the ioctl lets
 *                     the kernel deliver it to libdune's host handler, which
 *                     queues vector DUNE_SIGNAL_INTR_BASE + signo for the guest.
 *   DUNE_RET_EXIT     guest's exit/exit_group VMCALL; conf.status = its code
 *                     (rax holds the syscall number so libdune can tell them apart).
 *   DUNE_RET_EPT_VIOLATION, DUNE_RET_UNHANDLED_VMEXIT, DUNE_RET_NOENTER: the
 *                     guest cannot continue; conf.status holds the exit reason.
 * DUNE_ENTER with conf.vcpu == the thread's vCPU id resumes that vCPU with the
 * registers in conf (its CR3 included).  Any other vcpu value gets -EINVAL.
 * DUNE_QUEUE_INTR queues an interrupt vector (32..255) on the calling thread's
 * vCPU; it is injected on the next resume as soon as the guest has IF=1.
 * The vCPU is destroyed when its thread exits or the /dev/dune file is closed.
 */

/* Where the host's mmap and stack regions sit in guest-physical space. */
struct dune_layout {
	__u64 phys_limit;	/* 1 << CPU physical-address width */
	__u64 base_map;		/* host-virtual start of the mmap region */
	__u64 base_stack;	/* host-virtual start of the stack region */
} __attribute__((packed));

#define GPA_STACK_SIZE	((__u64)1 << 30)			/* 1 GiB */
#define GPA_MAP_SIZE	(((__u64)1 << 36) - GPA_STACK_SIZE)	/* 63 GiB */

/* Registers passed to a trap notify function (single-step tracing). */
struct dune_trap_regs {
	__u64 rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11, r12, r13, r14, r15;
	__u64 rip, rflags;
} __attribute__((packed));

typedef void (*dune_trap_notify_func)(struct dune_trap_regs *regs, void *priv);

struct dune_trap_config {
	__u64 trigger_rip;		/* start single-stepping when the guest reaches this RIP */
	__u64 notify_func;		/* dune_trap_notify_func, called in the guest with the regs */
	__u64 regs;			/* struct dune_trap_regs * in guest memory */
	__u64 regs_size;		/* sizeof(struct dune_trap_regs) the caller reserved */
	__u64 priv;			/* opaque, passed back to notify_func */
	__u8 delay;			/* instructions to skip after the trigger before notifying */
} __attribute__((packed));

/*
 * Event counters of one /dev/dune file (DUNE_GET_STATS): the sums over all
 * vCPUs ever created on it, live ones and those already destroyed (a vCPU's
 * counts are folded into the file's totals when it goes away).  Every field
 * is a __u64 that only grows.  Each vCPU's counters are plain integers bumped
 * by the thread that runs it, so counting costs a few adds per round trip;
 * a read sums them and may therefore see a running vCPU's counts a few
 * events old.  What one VMCALL round trip costs shows up here as: 1 exit
 * (exit_reasons[VMCALL]), 1 entry, 1 ioctl return (returns[DUNE_RET_SYSCALL])
 * and the msr_writes of the entry/exit switching.  libdune's
 * dune_get_stats() reads it; dune_exit_reason_name() names the indices.
 */
#define DUNE_STATS_EXIT_REASONS	128	/* basic exit reasons 0..127 (the SDM defines 0..79) */
#define DUNE_STATS_RETURNS	8	/* conf.ret values 0..7 (0: DUNE_ENTER returned an errno) */

struct dune_stats {
	__u64 vcpus;			/* vCPUs created on this file */
	__u64 vcpus_destroyed;		/* ... of which destroyed (thread exit, replaced) */
	__u64 entries;			/* VMLAUNCH/VMRESUME executed */
	__u64 entry_failures;		/* entries that failed (VMfail, or a failed-entry exit) */
	__u64 exits;			/* VM exits, all reasons (failed entries not included) */
	__u64 exits_other;		/* exits with basic reason >= DUNE_STATS_EXIT_REASONS */
	__u64 ioctl_returns;		/* DUNE_ENTER returns to user space after running a vCPU */
	__u64 returns[DUNE_STATS_RETURNS];	/* ... by conf.ret; [0]: by an errno */
	__u64 msr_writes;		/* host WRMSRs of the module's switching around entry/exit */
	__u64 fpu_loads;		/* thread FPU state reloaded by the kernel before an entry */
	__u64 ept_violations;		/* EPT violations handled in the module */
	__u64 ept_pages_mapped;		/* EPT leaves installed (or upgraded) by those */
	__u64 invepts;			/* INVEPTs for this file's EPTs, on any CPU (see below) */
	__u64 invvpids;			/* INVVPIDs (after a vCPU moved to another CPU) */
	__u64 vmcs_loads;		/* VMCS loaded on a new CPU (first run, migration) */
	__u64 interrupts_injected;	/* DUNE_QUEUE_INTR vectors delivered to the guest */
	__u64 exceptions_injected;	/* exceptions the module raised in the guest (#UD, #GP) */
	__u64 events_reinjected;	/* guest events an exit interrupted, delivered again */
	__u64 reserved[5];		/* 0; room for more counters */
	__u64 exit_reasons[DUNE_STATS_EXIT_REASONS];	/* VM exits by basic exit reason */
};
/*
 * invepts: the EPT belongs to the process (mm), not to a file, so its
 * INVEPT count is reported by every file with a live vCPU on it and moved
 * into the totals of the file whose last vCPU on it goes away (the final
 * teardown flush is not counted).  With one file per process, as libdune
 * does it, that is exact.
 */

#define DUNE_ENTER		_IOR(DUNE_MINOR, 0x01, struct dune_config)
#define DUNE_GET_SYSCALL	_IO(DUNE_MINOR, 0x02)
#define DUNE_GET_LAYOUT		_IOW(DUNE_MINOR, 0x03, struct dune_layout)
#define DUNE_TRAP_ENABLE	_IOR(DUNE_MINOR, 0x04, struct dune_trap_config)
#define DUNE_TRAP_DISABLE	_IO(DUNE_MINOR, 0x05)
#define DUNE_QUEUE_INTR		_IOW(DUNE_MINOR, 0x06, __u32)
/* dunelab addition: the file's event counters (struct dune_stats above). */
#define DUNE_GET_STATS		_IOR(DUNE_MINOR, 0x07, struct dune_stats)

/* Signals are delivered into the guest as interrupt vector DUNE_SIGNAL_INTR_BASE + signo. */
#define DUNE_SIGNAL_INTR_BASE	200

#endif /* DUNE_UAPI_H */
