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
#include <linux/preempt.h>
#include <linux/user-return-notifier.h>
#include <linux/workqueue.h>
#include <linux/rcupdate.h>
#include <asm/vmx.h>

#include "uapi/dune.h"

#define DUNE_NR_VECTORS 256

/* 48-bit canonical (the guest runs 4-level paging); the one helper for it. */
static inline bool dune_is_canonical(u64 v)
{
	return ((s64)(v << 16) >> 16) == (s64)v;
}

/* VMX capabilities probed once at module load (capabilities.c). */
struct dune_vmx_caps {
	u32 revision_id;
	u32 pin_ctl, proc_ctl, proc2_ctl, exit_ctl, entry_ctl;
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	bool has_vpid;
	int invvpid_type;	/* VMX_VPID_EXTENT_* we use, or -1 */
	bool invept_single;	/* INVEPT single-context supported */
	bool ept_2m;		/* 2 MiB EPT leaves */
	u64 phys_limit;		/* 1 << min(MAXPHYADDR, 48) */
};
extern struct dune_vmx_caps dune_caps;

/*
 * The syscall MSRs a guest owns while it runs, switched lazily (host_state.c):
 * loaded before an entry if the CPU does not hold them already, and put back
 * by a user-return notifier only when this CPU next returns to user mode.
 */
enum { DUNE_URET_STAR, DUNE_URET_LSTAR, DUNE_URET_CSTAR, DUNE_URET_SFMASK, DUNE_NR_URET };

/* Per-CPU VMX and host state (vmx_hw.c, host_state.c). */
struct dune_cpu {
	void *vmxon_region;
	bool vmx_on;
	struct list_head loaded;	/* vCPUs whose VMCS is active here */
	void *current_vmcs;		/* VMCS made current by VMPTRLD */
	/* Syscall MSRs: the host's values and what the CPU holds now. */
	u64 uret_host[DUNE_NR_URET];
	u64 uret_curr[DUNE_NR_URET];
	bool uret_valid;		/* uret_host read (VMX on here) */
	bool uret_registered;
	struct user_return_notifier urn;
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
	unsigned long nr_tables;	/* EPT table pages below the root */
	atomic64_t invepts;		/* INVEPTs executed for this EPT (stats.c) */
	atomic_t nr_vcpus;		/* live vCPUs using this EPT */
	cpumask_var_t cpus_used;	/* CPUs that may cache this EPT */
	struct dune_layout layout;
	bool dead;			/* mm went through ->release */
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

/* MSRs switched by the VM-entry/VM-exit MSR-load lists (perf, host_state.c). */
#define DUNE_MAX_AUTOLOAD 8
struct dune_msr_entry {
	u32 index;
	u32 reserved;
	u64 value;
} __aligned(16);

/* Host state a VM exit does not restore, saved when the guest's is loaded. */
struct dune_host_state {
	u16 ldt_sel, ds_sel, es_sel, fs_sel, gs_sel;
	unsigned long fs_base;		/* the thread's user FS base */
	unsigned long kernel_gs_base;	/* the thread's user GS base */
};

/* What the current VMCS holds in its host-state area (written on change). */
struct dune_vmcs_host {
	unsigned long cr3, cr4, fs_base;
};

struct dune_file;

struct dune_vcpu {
	struct list_head file_link;	/* dune_file.vcpus, under dune_file.lock */
	struct list_head cpu_link;	/* dune_cpu.loaded, while active on a CPU */
	struct dune_file *file;
	struct task_struct *task;	/* the owning thread (referenced) */
	pid_t pid;			/* its key in the vCPU table (vcpu.c) */
	bool on_file;			/* still on file->vcpus (under file->lock) */
	struct dune_vm *vm;
	u64 id;
	int vpid;			/* 0 = VPID not used */
	struct work_struct destroy_work;	/* after its thread exited */
	struct rcu_head rcu;

	void *vmcs;
	int cpu;			/* CPU the VMCS is active on, or -1 */
	bool launched;
	struct dune_vmcs_host vmcs_host;

	struct dune_gprs regs;
	u64 cr2;
	/* Guest RIP/RSP/RFLAGS/CR3: rip after every exit, the rest on demand. */
	u64 rip, rsp, rflags, cr3;
	bool regs_cached;		/* rsp/rflags/cr3 read since the exit */
	bool regs_dirty;		/* cached values must be written back */
	bool vmcs_ready;		/* dune_vmcs_setup() done */
	bool window_exiting;		/* interrupt-window exiting is on */
	bool l1d_flush;			/* flush L1D before the next entry */

	/* Guest values of MSRs that VMX does not switch for us. */
	u64 g_uret[DUNE_NR_URET];
	u64 g_kernel_gs;
	/* Host FS/GS (user) bases last copied into the guest. */
	u64 synced_fs, synced_gs;

	/* Guest state loaded in the CPU (KERNEL_GS_BASE, segments), vcpu_put undoes. */
	bool guest_state_loaded;
	struct dune_host_state host;
	struct preempt_notifier pn;

	/* perf: MSR-load lists, guest values at entry and host values at exit */
	unsigned int nr_autoload;
	struct dune_msr_entry autoload_guest[DUNE_MAX_AUTOLOAD];
	struct dune_msr_entry autoload_host[DUNE_MAX_AUTOLOAD];

	DECLARE_BITMAP(pending_intr, DUNE_NR_VECTORS);

	/* Exit information: the reason always, the rest read when needed. */
	u32 exit_reason;
	u32 exit_insn_len;		/* read by the handlers that skip */
	u32 exit_intr_info;		/* exception/NMI exits */
	u64 exit_qual, exit_gpa;	/* EPT violations, for the preemptible part */

	/* Event counters: written only by the owning thread, summed by stats.c. */
	struct dune_stats stats;
};

struct dune_file {
	spinlock_t lock;		/* vcpus list, dune_vcpu.on_file, totals */
	struct list_head vcpus;
	struct dune_stats totals;	/* counts of vCPUs already destroyed */
	struct rcu_head rcu;
};

/* Bump a counter of the vCPU the calling thread runs (no atomics: one writer). */
#define dune_stat_inc(vcpu, field)	((vcpu)->stats.field++)
#define dune_stat_add(vcpu, field, n)	((vcpu)->stats.field += (n))

/* capabilities.c */
int dune_caps_probe(void);

/* vmx_hw.c */
int dune_vmx_init(void);
void dune_vmx_exit(void);
int dune_vmx_get(void);
void dune_vmx_put(void);
bool dune_vmx_rebooting(void);
int dune_vpid_alloc(void);
void dune_vpid_free(int vpid);
void dune_vcpu_clear_on_cpu(void *arg);

/* host_state.c */
void dune_uret_cpu_init(void);
unsigned int dune_uret_load_guest(const u64 *guest);
unsigned int dune_host_state_load(struct dune_vcpu *vcpu);
void dune_host_state_put(struct dune_vcpu *vcpu);
void dune_perf_switch(struct dune_vcpu *vcpu);

/* mitigations.c */
int dune_mitigations_init(void);
void dune_mitigations_exit(void);
void dune_l1d_flush(struct dune_vcpu *vcpu);
void dune_mitigations_after_exit(void);

/* vmcs.c */
int dune_vmcs_init(void);
void dune_vmcs_exit(void);
void *dune_vmcs_alloc(void);
void dune_vmcs_free(void *vmcs);
void dune_vmcs_setup(struct dune_vcpu *vcpu);
void dune_vmcs_set_host_percpu(void);
void dune_vmcs_set_host_per_entry(struct dune_vcpu *vcpu);

/* ept.c */
struct dune_vm *dune_vm_get_current(void);
void dune_vm_put(struct dune_vm *vm);
int dune_ept_handle_violation(struct dune_vm *vm, u64 gpa, u64 qual, bool *mapped);
bool dune_gpa_to_hva(const struct dune_layout *l, u64 gpa, unsigned long *hva);
bool dune_hva_to_gpa(const struct dune_layout *l, unsigned long hva, u64 *gpa);
void dune_fill_layout(struct mm_struct *mm, struct dune_layout *l);
void dune_ept_flush_local(void *vm);

/* vcpu.c */
int dune_vcpu_init(void);
void dune_vcpu_exit(void);
long dune_ioctl_enter(struct dune_file *df, struct dune_config __user *uconf);
long dune_ioctl_queue_intr(struct dune_file *df, unsigned long arg);
void dune_file_release(struct dune_file *df);
void dune_vcpu_cache_regs(struct dune_vcpu *vcpu);

/* stats.c */
void dune_stats_count_exit(struct dune_vcpu *vcpu);
void dune_stats_fold(struct dune_file *df, struct dune_vcpu *vcpu);
long dune_ioctl_get_stats(struct dune_file *df, struct dune_stats __user *ustats);

/* exits.c */
/* dune_handle_exit() results that need preemptible work in the run loop. */
#define DUNE_EXIT_SLOW_EPT	100
#define DUNE_EXIT_SLOW_HLT	101
/* Returns 0 to re-enter the guest, or a DUNE_RET_* (>0) to leave to user. */
int dune_handle_exit(struct dune_vcpu *vcpu, u32 exit_reason, struct dune_config *conf);
void dune_handle_exit_irqoff(struct dune_vcpu *vcpu);

/* vmx_entry.S: returns 0 after a VM exit, 1 if VMLAUNCH/VMRESUME failed. */
int dune_vmx_run(struct dune_gprs *regs, int launched);
extern const char dune_vmx_return[];
/* vmx_entry.S: call an IDT entry point (NMI) with an interrupt frame, IRQs off. */
void dune_do_nmi_irqoff(void);

#endif /* DUNE_INTERNAL_H */
