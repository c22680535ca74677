/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dune_internal.h - private types shared by the files of dune.ko.
 */
#ifndef DUNE_INTERNAL_H
#define DUNE_INTERNAL_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/mmu_notifier.h>
#include <linux/cpumask.h>
#include <linux/bitmap.h>
#include <linux/sched.h>

#include "uapi/dune.h"

#define DUNE_NR_VECTORS 256

/* VMX capabilities probed once at module load (vmx_hw.c). */
struct dune_vmx_caps {
	u32 revision_id;
	u32 pin_ctl, proc_ctl, proc2_ctl, exit_ctl, entry_ctl;
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	bool has_vpid;
	int invvpid_type;	/* VMX_VPID_EXTENT_* we use, or -1 */
	bool invept_single;	/* INVEPT single-context supported */
	u64 phys_limit;		/* 1 << min(MAXPHYADDR, 48) */
};
extern struct dune_vmx_caps dune_caps;

/* Per-CPU VMX state (vmx_hw.c). */
struct dune_cpu {
	void *vmxon_region;
	bool vmx_on;
	struct list_head loaded;	/* vCPUs whose VMCS is active here */
	void *current_vmcs;		/* VMCS made current by VMPTRLD */
	/* Host MSR values that VM exits do not restore (read at VMXON). */
	u64 star, lstar, cstar, sfmask;
};
DECLARE_PER_CPU(struct dune_cpu, dune_cpu);

/* Per-process (per-mm) guest-physical address space. */
struct dune_vm {
	struct mmu_notifier mn;		/* one per mm via mmu_notifier_get() */
	spinlock_t ept_lock;		/* EPT tables and the fields below */
	u64 *ept_root;			/* PML4 page */
	u64 eptp;
	unsigned long mmu_seq;		/* bumped at each invalidate_range_end */
	long mmu_invalidating;		/* invalidations in progress */
	atomic_t nr_vcpus;		/* live vCPUs using this EPT */
	cpumask_var_t cpus_used;	/* CPUs that may cache this EPT */
	struct dune_layout layout;
	bool dead;			/* mm went through ->release */
	atomic64_t invepts;		/* INVEPTs executed for this EPT (stats.c) */
};

/* Guest general-purpose registers not held in the VMCS (vmx_entry.S). */
struct dune_gprs {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
};
/* Offsets used by vmx_entry.S; checked by BUILD_BUG_ON in vcpu.c. */
#define DUNE_GPR_RAX 0
#define DUNE_GPR_RBX 8
#define DUNE_GPR_RCX 16
#define DUNE_GPR_RDX 24
#define DUNE_GPR_RSI 32
#define DUNE_GPR_RDI 40
#define DUNE_GPR_RBP 48
#define DUNE_GPR_R8  56
#define DUNE_GPR_R9  64
#define DUNE_GPR_R10 72
#define DUNE_GPR_R11 80
#define DUNE_GPR_R12 88
#define DUNE_GPR_R13 96
#define DUNE_GPR_R14 104
#define DUNE_GPR_R15 112

struct dune_file;

struct dune_vcpu {
	struct list_head file_link;	/* dune_file.vcpus */
	struct list_head cpu_link;	/* dune_cpu.loaded, while active on a CPU */
	struct dune_file *file;
	struct task_struct *task;	/* the owning thread (referenced) */
	struct dune_vm *vm;
	u64 id;
	int vpid;			/* 0 = VPID not used */

	void *vmcs;
	int cpu;			/* CPU the VMCS is active on, or -1 */
	bool launched;

	struct dune_gprs regs;
	u64 cr2;
	/* Guest RIP/RSP/RFLAGS/CR3, cached after every exit. */
	u64 rip, rsp, rflags, cr3;
	bool regs_dirty;		/* cached values must be written back */
	bool vmcs_ready;		/* dune_vmcs_setup() done */
	bool window_exiting;		/* interrupt-window exiting is on */

	/* Guest values of MSRs that VMX does not switch for us. */
	u64 g_star, g_lstar, g_cstar, g_sfmask, g_kernel_gs;
	/* Host FS/GS (user) bases last copied into the guest. */
	u64 synced_fs, synced_gs;

	DECLARE_BITMAP(pending_intr, DUNE_NR_VECTORS);

	/* Exit information captured while the VMCS was current. */
	u32 exit_reason;
	u64 exit_qual;
	u64 exit_gpa;
	u32 exit_intr_info;
	u32 exit_insn_len;

	/* Event counters: written only by the owning thread, summed by stats.c. */
	struct dune_stats stats;
};

struct dune_file {
	struct mutex lock;		/* protects vcpus list and totals */
	struct list_head vcpus;
	struct dune_stats totals;	/* counts of vCPUs already destroyed */
};

/* Bump a counter of the vCPU the calling thread runs (no atomics: one writer). */
#define dune_stat_inc(vcpu, field)	((vcpu)->stats.field++)
#define dune_stat_add(vcpu, field, n)	((vcpu)->stats.field += (n))

/* vmx_hw.c */
int dune_vmx_init(void);
void dune_vmx_exit(void);
int dune_vmx_get(void);
void dune_vmx_put(void);
bool dune_vmx_rebooting(void);
int dune_vpid_alloc(void);
void dune_vpid_free(int vpid);
void dune_vcpu_clear_on_cpu(void *arg);

/* vmcs.c */
int dune_vmcs_init(void);
void dune_vmcs_exit(void);
void *dune_vmcs_alloc(void);
void dune_vmcs_free(void *vmcs);
void dune_vmcs_setup(struct dune_vcpu *vcpu);
void dune_vmcs_set_host_percpu(void);
void dune_vmcs_set_host_per_entry(void);

/* ept.c */
struct dune_vm *dune_vm_get_current(void);
void dune_vm_put(struct dune_vm *vm);
int dune_ept_handle_violation(struct dune_vm *vm, u64 gpa, u64 qual, bool *mapped);
bool dune_gpa_to_hva(const struct dune_layout *l, u64 gpa, unsigned long *hva);
bool dune_hva_to_gpa(const struct dune_layout *l, unsigned long hva, u64 *gpa);
void dune_fill_layout(struct mm_struct *mm, struct dune_layout *l);
void dune_ept_flush_local(void *vm);

/* vcpu.c */
long dune_ioctl_enter(struct dune_file *df, struct dune_config __user *uconf);
long dune_ioctl_queue_intr(struct dune_file *df, unsigned long arg);
void dune_vcpu_destroy(struct dune_vcpu *vcpu);
void dune_file_reap(struct dune_file *df, bool all);

/* stats.c */
void dune_stats_count_exit(struct dune_vcpu *vcpu);
void dune_stats_fold(struct dune_file *df, struct dune_vcpu *vcpu);
long dune_ioctl_get_stats(struct dune_file *df, struct dune_stats __user *ustats);

/* exits.c */
/* dune_handle_exit() results that need preemptible work in the run loop. */
#define DUNE_EXIT_SLOW_EPT	100
#define DUNE_EXIT_SLOW_HLT	101
/* Returns 0 to re-enter the guest, or a DUNE_RET_* (>0) to leave to user. */
int dune_handle_exit(struct dune_vcpu *vcpu, struct dune_config *conf);
void dune_handle_exit_irqoff(struct dune_vcpu *vcpu);

/* vmx_entry.S: returns 0 after a VM exit, 1 if VMLAUNCH/VMRESUME failed. */
int dune_vmx_run(struct dune_gprs *regs, int launched);
extern const char dune_vmx_return[];

#endif /* DUNE_INTERNAL_H */
