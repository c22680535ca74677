// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu.c - vCPU lifecycle and the run loop.
 *
 * One vCPU per thread.  Its VMCS stays active on the CPU where it last ran;
 * before every entry (preemption off) we check whether the thread migrated
 * and, if so, VMCLEAR it on the old CPU by IPI and VMPTRLD it here.  Nothing
 * of the guest stays in host registers outside the short interrupts-off
 * window around VMLAUNCH/VMRESUME, so preemption needs no notifier.
 *
 * Host work (signals, rescheduling, TIF_NOTIFY_RESUME such as rseq or task
 * work) is checked before every entry: need_resched is served in place,
 * everything else returns DUNE_RET_SIGNAL so the kernel can do it on the way
 * back to user mode, and libdune simply resumes.
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/slab.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/uaccess.h>
#include <linux/smp.h>
#include <linux/delay.h>
#include <asm/desc.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/special_insns.h>
#include <asm/segment.h>
#include <asm/traps.h>
#include <uapi/asm/vmx.h>

#include "dune_internal.h"
#include "vmx_ops.h"

static atomic64_t next_vcpu_id = ATOMIC64_INIT(0);

#define DUNE_HOST_WORK (_TIF_NEED_RESCHED | _TIF_SIGPENDING | \
			_TIF_NOTIFY_SIGNAL | _TIF_NOTIFY_RESUME)

/* Bits of RFLAGS a guest may hold (VM must stay 0 in 64-bit mode). */
#define DUNE_RFLAGS_OK (X86_EFLAGS_CF | X86_EFLAGS_FIXED | X86_EFLAGS_PF | \
			X86_EFLAGS_AF | X86_EFLAGS_ZF | X86_EFLAGS_SF | \
			X86_EFLAGS_TF | X86_EFLAGS_IF | X86_EFLAGS_DF | \
			X86_EFLAGS_OF | X86_EFLAGS_IOPL | X86_EFLAGS_NT | \
			X86_EFLAGS_RF | X86_EFLAGS_AC | X86_EFLAGS_VIF | \
			X86_EFLAGS_VIP | X86_EFLAGS_ID)

static bool canonical(u64 v)
{
	/* 48-bit canonical: the guest runs 4-level paging. */
	return ((s64)(v << 16) >> 16) == (s64)v;
}

static int validate_conf(const struct dune_config *c)
{
	if (!canonical(c->rip) || !canonical(c->rsp))
		return -EINVAL;
	if (c->rflags & ~(u64)DUNE_RFLAGS_OK)
		return -EINVAL;
	return 0;
}

/*
 * A Dune guest runs the process's own code: its page table mirrors the
 * user half only.  A new vCPU must start there; a resume may only hand
 * back a kernel-half RIP/RSP the guest itself reached (like CR3 below).
 */
static bool user_half(u64 v)
{
	return v < TASK_SIZE_MAX;
}

static void conf_to_vcpu(struct dune_vcpu *v, const struct dune_config *c)
{
	v->regs.rax = c->rax;
	v->regs.rbx = c->rbx;
	v->regs.rcx = c->rcx;
	v->regs.rdx = c->rdx;
	v->regs.rsi = c->rsi;
	v->regs.rdi = c->rdi;
	v->regs.rbp = c->rbp;
	v->regs.r8 = c->r8;
	v->regs.r9 = c->r9;
	v->regs.r10 = c->r10;
	v->regs.r11 = c->r11;
	v->regs.r12 = c->r12;
	v->regs.r13 = c->r13;
	v->regs.r14 = c->r14;
	v->regs.r15 = c->r15;
	v->rip = c->rip;
	v->rsp = c->rsp;
	v->rflags = c->rflags | X86_EFLAGS_FIXED;
	v->cr3 = c->cr3;
	v->regs_dirty = true;
}

static void vcpu_to_conf(const struct dune_vcpu *v, struct dune_config *c)
{
	c->rax = v->regs.rax;
	c->rbx = v->regs.rbx;
	c->rcx = v->regs.rcx;
	c->rdx = v->regs.rdx;
	c->rsi = v->regs.rsi;
	c->rdi = v->regs.rdi;
	c->rbp = v->regs.rbp;
	c->r8 = v->regs.r8;
	c->r9 = v->regs.r9;
	c->r10 = v->regs.r10;
	c->r11 = v->regs.r11;
	c->r12 = v->regs.r12;
	c->r13 = v->regs.r13;
	c->r14 = v->regs.r14;
	c->r15 = v->regs.r15;
	c->rip = v->rip;
	c->rsp = v->rsp;
	c->rflags = v->rflags;
	c->cr3 = v->cr3;
	c->vcpu = v->id;
}

/*
 * Make the vCPU's VMCS current on this CPU.  Preemption must be off and
 * interrupts on; returns 0 with interrupts OFF, so that nothing (hotplug,
 * the reboot notifier's VMXOFF IPI) can leave VMX operation under us until
 * the caller re-enables them.  -EAGAIN: VMX is not on here (CPU leaving).
 */
static int vcpu_load(struct dune_vcpu *vcpu)
{
	int cpu = smp_processor_id();
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	u64 pa = __pa(vcpu->vmcs);
	int old = READ_ONCE(vcpu->cpu);

	/* Migrated: a VMCS may be active on one CPU only, clear it there. */
	if (old >= 0 && old != cpu) {
		smp_call_function_single(old, dune_vcpu_clear_on_cpu, vcpu, 1);
		smp_rmb();
		if (WARN_ON_ONCE(READ_ONCE(vcpu->cpu) >= 0))
			return -EIO;
	}

	local_irq_disable();
	if (unlikely(!dc->vmx_on)) {
		local_irq_enable();
		return -EAGAIN;
	}
	if (likely(READ_ONCE(vcpu->cpu) == cpu)) {
		if (dc->current_vmcs != vcpu->vmcs) {
			if (dune_vmptrld(pa)) {
				local_irq_enable();
				return -EIO;
			}
			dc->current_vmcs = vcpu->vmcs;
		}
		return 0;
	}

	dune_vmclear(pa);	/* launch state "clear": next entry is VMLAUNCH */
	if (dune_vmptrld(pa)) {
		local_irq_enable();
		return -EIO;
	}
	dc->current_vmcs = vcpu->vmcs;
	list_add(&vcpu->cpu_link, &dc->loaded);
	vcpu->launched = false;
	WRITE_ONCE(vcpu->cpu, cpu);
	dune_stat_inc(vcpu, vmcs_loads);

	/* Let EPT invalidations reach this CPU before we can cache anything. */
	cpumask_set_cpu(cpu, vcpu->vm->cpus_used);
	smp_mb__after_atomic();

	if (!vcpu->vmcs_ready) {
		dune_vmcs_setup(vcpu);
		vcpu->vmcs_ready = true;
	} else {
		dune_vmcs_set_host_percpu();
	}
	/* Linear mappings tagged with our VPID here may predate guest changes. */
	if (vcpu->vpid) {
		dune_stat_inc(vcpu, invvpids);
		if (dune_caps.invvpid_type == VMX_VPID_EXTENT_SINGLE_CONTEXT)
			dune_invvpid(VMX_VPID_EXTENT_SINGLE_CONTEXT, vcpu->vpid, 0);
		else
			dune_invvpid(VMX_VPID_EXTENT_ALL_CONTEXT, 0, 0);
	}
	return 0;
}

/*
 * Load a vCPU, waiting out a CPU that is leaving.  On success returns with
 * preemption and interrupts off.
 */
static int vcpu_load_irqoff(struct dune_vcpu *vcpu)
{
	int r;

	for (;;) {
		if (dune_vmx_rebooting())
			return -EIO;
		preempt_disable();
		r = vcpu_load(vcpu);
		if (r != -EAGAIN)
			break;
		preempt_enable();
		schedule_timeout_uninterruptible(1);
	}
	if (r)
		preempt_enable();
	return r;
}

static void inject_pending(struct dune_vcpu *vcpu)
{
	unsigned long vec;
	u32 intr_state;

	if (bitmap_empty(vcpu->pending_intr, DUNE_NR_VECTORS)) {
		if (vcpu->window_exiting) {
			vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL,
					CPU_BASED_INTR_WINDOW_EXITING);
			vcpu->window_exiting = false;
		}
		return;
	}
	/* An event being re-delivered (IDT vectoring) goes first. */
	if (vmcs_read(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK)
		goto window;
	intr_state = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	if (!(vcpu->rflags & X86_EFLAGS_IF) ||
	    (intr_state & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)))
		goto window;
	vec = find_last_bit(vcpu->pending_intr, DUNE_NR_VECTORS);
	clear_bit(vec, vcpu->pending_intr);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD,
		   vec | INTR_TYPE_EXT_INTR | INTR_INFO_VALID_MASK);
	dune_stat_inc(vcpu, interrupts_injected);
	if (bitmap_empty(vcpu->pending_intr, DUNE_NR_VECTORS)) {
		if (vcpu->window_exiting) {
			vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL,
					CPU_BASED_INTR_WINDOW_EXITING);
			vcpu->window_exiting = false;
		}
		return;
	}
window:
	if (!vcpu->window_exiting) {
		vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL,
			      CPU_BASED_INTR_WINDOW_EXITING);
		vcpu->window_exiting = true;
	}
}

/* Copy host-side FS/GS base changes (arch_prctl in libdune) into the guest. */
static void sync_guest_bases(struct dune_vcpu *vcpu)
{
	u64 fs, gs;

	rdmsrl(MSR_FS_BASE, fs);
	rdmsrl(MSR_KERNEL_GS_BASE, gs);	/* the thread's user GS base */
	if (fs != vcpu->synced_fs) {
		vmcs_write(GUEST_FS_BASE, fs);
		vcpu->synced_fs = fs;
	}
	if (gs != vcpu->synced_gs) {
		vmcs_write(GUEST_GS_BASE, gs);
		vcpu->synced_gs = gs;
	}
}

/*
 * The interrupts-off part: switch the few registers VMX leaves alone, enter,
 * and put the host back exactly as it was before interrupts come back on.
 * Returns 0 after a VM exit, 1 on VMfail.
 */
static int vcpu_enter_irqoff(struct dune_vcpu *vcpu)
{
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	u16 ds, es, ldt;
	u64 host_kgs, host_debugctl;
	unsigned long host_dr7;
	unsigned int wrmsrs = 0;	/* counted: the WRMSRs below */
	int fail;

	savesegment(ds, ds);
	savesegment(es, es);
	asm volatile("sldt %0" : "=g"(ldt));
	rdmsrl(MSR_KERNEL_GS_BASE, host_kgs);
	rdmsrl(MSR_IA32_DEBUGCTLMSR, host_debugctl);
	get_debugreg(host_dr7, 7);

	/* Each MSR that differs is written here and again after the exit. */
	if (vcpu->g_kernel_gs != host_kgs) {
		wrmsrl(MSR_KERNEL_GS_BASE, vcpu->g_kernel_gs);
		wrmsrs++;
	}
	if (vcpu->g_star != dc->star) {
		wrmsrl(MSR_STAR, vcpu->g_star);
		wrmsrs += 2;
	}
	if (vcpu->g_lstar != dc->lstar) {
		wrmsrl(MSR_LSTAR, vcpu->g_lstar);
		wrmsrs += 2;
	}
	if (vcpu->g_cstar != dc->cstar) {
		wrmsrl(MSR_CSTAR, vcpu->g_cstar);
		wrmsrs += 2;
	}
	if (vcpu->g_sfmask != dc->sfmask) {
		wrmsrl(MSR_SYSCALL_MASK, vcpu->g_sfmask);
		wrmsrs += 2;
	}
	if (native_read_cr2() != vcpu->cr2)
		native_write_cr2(vcpu->cr2);

	fail = dune_vmx_run(&vcpu->regs, vcpu->launched);

	vcpu->cr2 = native_read_cr2();
	/* VM exit zeroed DS/ES/LDTR, set the GDT/TR limits to their minimum. */
	if (ds | es) {
		loadsegment(ds, ds);
		loadsegment(es, es);
	}
	if (ldt)
		asm volatile("lldt %0" : : "rm"(ldt));
	load_fixmap_gdt(smp_processor_id());
	invalidate_tss_limit();

	rdmsrl(MSR_KERNEL_GS_BASE, vcpu->g_kernel_gs);
	if (vcpu->g_kernel_gs != host_kgs) {
		wrmsrl(MSR_KERNEL_GS_BASE, host_kgs);
		wrmsrs++;
	}
	if (vcpu->g_star != dc->star)
		wrmsrl(MSR_STAR, dc->star);
	if (vcpu->g_lstar != dc->lstar)
		wrmsrl(MSR_LSTAR, dc->lstar);
	if (vcpu->g_cstar != dc->cstar)
		wrmsrl(MSR_CSTAR, dc->cstar);
	if (vcpu->g_sfmask != dc->sfmask)
		wrmsrl(MSR_SYSCALL_MASK, dc->sfmask);
	/* VM exits clear DEBUGCTL and set DR7 to 0x400. */
	if (host_debugctl) {
		wrmsrl(MSR_IA32_DEBUGCTLMSR, host_debugctl);
		wrmsrs++;
	}
	if (host_dr7 & 0xff)
		set_debugreg(host_dr7, 7);
	/* vmx_entry.S rewrites SPEC_CTRL after the exit under legacy IBRS. */
	if (cpu_feature_enabled(X86_FEATURE_KERNEL_IBRS))
		wrmsrs++;
	dune_stat_add(vcpu, msr_writes, wrmsrs);
	return fail;
}

/* Capture exit state while the VMCS is current (interrupts still off). */
static void vcpu_capture_exit(struct dune_vcpu *vcpu)
{
	u32 idt;

	vcpu->exit_reason = vmcs_read(VM_EXIT_REASON);
	vcpu->exit_qual = vmcs_read(EXIT_QUALIFICATION);
	vcpu->exit_intr_info = vmcs_read(VM_EXIT_INTR_INFO);
	vcpu->exit_insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	vcpu->exit_gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
	vcpu->rip = vmcs_read(GUEST_RIP);
	vcpu->rsp = vmcs_read(GUEST_RSP);
	vcpu->rflags = vmcs_read(GUEST_RFLAGS);
	vcpu->cr3 = vmcs_read(GUEST_CR3);

	/*
	 * An exit in the middle of delivering a guest event (typically an EPT
	 * violation on the guest's IDT or stack page) must re-deliver it.
	 */
	idt = vmcs_read(IDT_VECTORING_INFO_FIELD);
	if (idt & VECTORING_INFO_VALID_MASK) {
		u32 type = idt & VECTORING_INFO_TYPE_MASK;

		dune_stat_inc(vcpu, events_reinjected);
		vmcs_write(VM_ENTRY_INTR_INFO_FIELD,
			   idt & (VECTORING_INFO_VALID_MASK | VECTORING_INFO_TYPE_MASK |
				  VECTORING_INFO_DELIVER_CODE_MASK |
				  VECTORING_INFO_VECTOR_MASK));
		if (idt & VECTORING_INFO_DELIVER_CODE_MASK)
			vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE,
				   vmcs_read(IDT_VECTORING_ERROR_CODE));
		if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
		    type == INTR_TYPE_PRIV_SW_EXCEPTION)
			vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vcpu->exit_insn_len);
	}
}

/* The run loop.  Returns a DUNE_RET_* (> 0) or a negative errno. */
static int vcpu_run(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	int r;

	for (;;) {
		unsigned long work = read_thread_flags() & DUNE_HOST_WORK;

		if (work & (_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL | _TIF_NOTIFY_RESUME))
			return DUNE_RET_SIGNAL;
		if (work & _TIF_NEED_RESCHED)
			cond_resched();
		if (vcpu->vm->dead)
			return -ESRCH;

		r = vcpu_load_irqoff(vcpu);
		if (r)
			return r;

		if (vcpu->regs_dirty) {
			vmcs_write(GUEST_RIP, vcpu->rip);
			vmcs_write(GUEST_RSP, vcpu->rsp);
			vmcs_write(GUEST_RFLAGS, vcpu->rflags);
			vmcs_write(GUEST_CR3, vcpu->cr3);
			vcpu->regs_dirty = false;
		}
		inject_pending(vcpu);
		dune_vmcs_set_host_per_entry();
		sync_guest_bases(vcpu);

		if (read_thread_flags() & DUNE_HOST_WORK) {
			local_irq_enable();
			preempt_enable();
			continue;
		}
		/* The guest runs on this thread's user FPU state: load it. */
		if (test_thread_flag(TIF_NEED_FPU_LOAD)) {
			switch_fpu_return();
			dune_stat_inc(vcpu, fpu_loads);
		}

		dune_stat_inc(vcpu, entries);
		if (vcpu_enter_irqoff(vcpu)) {
			u32 err = vmcs_read(VM_INSTRUCTION_ERROR);

			dune_stat_inc(vcpu, entry_failures);

			local_irq_enable();
			preempt_enable();
			pr_err_ratelimited("VM%s failed, instruction error %u\n",
					   vcpu->launched ? "RESUME" : "LAUNCH", err);
			conf->status = err;
			return DUNE_RET_NOENTER;
		}
		vcpu_capture_exit(vcpu);
		dune_stats_count_exit(vcpu);
		/* A failed entry (exit reason bit 31) does not launch the VMCS. */
		if (!(vcpu->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY))
			vcpu->launched = true;
		dune_handle_exit_irqoff(vcpu);
		/* Cheap, VMCS-only handlers: still interrupts off, see vcpu_load(). */
		r = dune_handle_exit(vcpu, conf);
		local_irq_enable();
		preempt_enable();

		if (r == DUNE_EXIT_SLOW_EPT) {
			bool mapped = false;

			dune_stat_inc(vcpu, ept_violations);
			r = dune_ept_handle_violation(vcpu->vm, vcpu->exit_gpa,
						      vcpu->exit_qual, &mapped);
			if (mapped)
				dune_stat_inc(vcpu, ept_pages_mapped);
			if (r == 1) {
				conf->status = vcpu->exit_gpa;
				return DUNE_RET_EPT_VIOLATION;
			}
			if (r < 0)
				return r;
		} else if (r == DUNE_EXIT_SLOW_HLT) {
			/* HLT: sleep until a signal (the only guest interrupt source). */
			set_current_state(TASK_INTERRUPTIBLE);
			if (!signal_pending(current) &&
			    bitmap_empty(vcpu->pending_intr, DUNE_NR_VECTORS))
				schedule();
			__set_current_state(TASK_RUNNING);
		} else if (r) {
			return r;
		}
	}
}

static struct dune_vcpu *find_vcpu(struct dune_file *df, struct task_struct *t)
{
	struct dune_vcpu *v;

	list_for_each_entry(v, &df->vcpus, file_link)
		if (v->task == t)
			return v;
	return NULL;
}

void dune_vcpu_destroy(struct dune_vcpu *vcpu)
{
	int cpu = READ_ONCE(vcpu->cpu);

	/* VMCLEAR where it is active, or the CPU may write to freed memory. */
	if (cpu >= 0)
		smp_call_function_single(cpu, dune_vcpu_clear_on_cpu, vcpu, 1);
	WARN_ON_ONCE(READ_ONCE(vcpu->cpu) >= 0);
	dune_vm_put(vcpu->vm);
	dune_vpid_free(vcpu->vpid);
	dune_vmcs_free(vcpu->vmcs);
	put_task_struct(vcpu->task);
	kfree(vcpu);
	dune_vmx_put();
}

static struct dune_vcpu *vcpu_create(struct dune_file *df)
{
	struct dune_vcpu *vcpu;
	int r;

	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		return ERR_PTR(-ENOMEM);
	vcpu->vmcs = dune_vmcs_alloc();
	if (!vcpu->vmcs) {
		r = -ENOMEM;
		goto free;
	}
	r = dune_vmx_get();
	if (r)
		goto free_vmcs;
	vcpu->vm = dune_vm_get_current();
	if (IS_ERR(vcpu->vm)) {
		r = PTR_ERR(vcpu->vm);
		goto put_vmx;
	}
	vcpu->vpid = dune_vpid_alloc();
	vcpu->cpu = -1;
	INIT_LIST_HEAD(&vcpu->cpu_link);
	vcpu->file = df;
	get_task_struct(current);
	vcpu->task = current;
	vcpu->id = atomic64_inc_return(&next_vcpu_id);
	vcpu->stats.vcpus = 1;
	/* Guest syscall MSRs start out as the host's: no switching needed. */
	vcpu->g_star = this_cpu_read(dune_cpu.star);
	vcpu->g_lstar = this_cpu_read(dune_cpu.lstar);
	vcpu->g_cstar = this_cpu_read(dune_cpu.cstar);
	vcpu->g_sfmask = this_cpu_read(dune_cpu.sfmask);
	rdmsrl(MSR_KERNEL_GS_BASE, vcpu->g_kernel_gs);
	return vcpu;

put_vmx:
	dune_vmx_put();
free_vmcs:
	dune_vmcs_free(vcpu->vmcs);
free:
	kfree(vcpu);
	return ERR_PTR(r);
}

/* Destroy vCPUs whose thread has exited (all = every vCPU, on release). */
void dune_file_reap(struct dune_file *df, bool all)
{
	struct dune_vcpu *v, *tmp;
	LIST_HEAD(dead);

	mutex_lock(&df->lock);
	list_for_each_entry_safe(v, tmp, &df->vcpus, file_link) {
		if (all || (READ_ONCE(v->task->flags) & PF_EXITING))
			list_move(&v->file_link, &dead);
	}
	/* Off the list now: keep their counts in the file's totals. */
	list_for_each_entry(v, &dead, file_link)
		dune_stats_fold(df, v);
	mutex_unlock(&df->lock);
	list_for_each_entry_safe(v, tmp, &dead, file_link) {
		list_del(&v->file_link);
		dune_vcpu_destroy(v);
	}
}

long dune_ioctl_enter(struct dune_file *df, struct dune_config __user *uconf)
{
	struct dune_config conf;
	struct dune_vcpu *vcpu, *old = NULL;
	bool cr3_bad;
	int r;

	BUILD_BUG_ON(offsetof(struct dune_gprs, rax) != DUNE_GPR_RAX);
	BUILD_BUG_ON(offsetof(struct dune_gprs, rdi) != DUNE_GPR_RDI);
	BUILD_BUG_ON(offsetof(struct dune_gprs, rbp) != DUNE_GPR_RBP);
	BUILD_BUG_ON(offsetof(struct dune_gprs, r8) != DUNE_GPR_R8);
	BUILD_BUG_ON(offsetof(struct dune_gprs, r15) != DUNE_GPR_R15);

	if (copy_from_user(&conf, uconf, sizeof(conf)))
		return -EFAULT;
	/*
	 * The result goes back to the same place: refuse a read-only conf
	 * now, rather than run the guest and lose where it stopped.
	 */
	if (copy_to_user(uconf, &conf, sizeof(conf)))
		return -EFAULT;
	if (!current->mm || (current->flags & PF_KTHREAD))
		return -EINVAL;
	r = validate_conf(&conf);
	if (r)
		return r;

	/*
	 * CR3 is a guest-physical address (bits 3/4 = PWT/PCD allowed).  A
	 * resume may hand back whatever the guest itself loaded.
	 */
	cr3_bad = conf.cr3 >= dune_caps.phys_limit ||
		  (conf.cr3 & ~(PAGE_MASK | 0x18ULL));
	if (conf.vcpu == 0 &&
	    (cr3_bad || !user_half(conf.rip) || !user_half(conf.rsp)))
		return -EINVAL;

	dune_file_reap(df, false);

	mutex_lock(&df->lock);
	vcpu = find_vcpu(df, current);
	if (conf.vcpu == 0) {
		/* (Re)create this thread's vCPU; an old one is replaced. */
		if (vcpu) {
			list_del(&vcpu->file_link);
			dune_stats_fold(df, vcpu);
			old = vcpu;
		}
		vcpu = NULL;
	} else if (!vcpu || vcpu->id != conf.vcpu ||
		   (cr3_bad && conf.cr3 != vcpu->cr3) ||
		   (!user_half(conf.rip) && conf.rip != vcpu->rip) ||
		   (!user_half(conf.rsp) && conf.rsp != vcpu->rsp)) {
		mutex_unlock(&df->lock);
		return -EINVAL;
	}
	mutex_unlock(&df->lock);
	if (old)
		dune_vcpu_destroy(old);

	if (!vcpu) {
		vcpu = vcpu_create(df);
		if (IS_ERR(vcpu))
			return PTR_ERR(vcpu);
		mutex_lock(&df->lock);
		list_add(&vcpu->file_link, &df->vcpus);
		mutex_unlock(&df->lock);
	}
	/* After execve the thread has a new mm: the old vCPU is useless. */
	if (vcpu->vm->mn.mm != current->mm)
		return -EINVAL;

	conf_to_vcpu(vcpu, &conf);
	conf.status = 0;
	r = vcpu_run(vcpu, &conf);
	dune_stat_inc(vcpu, ioctl_returns);
	dune_stat_inc(vcpu, returns[r > 0 && r < DUNE_STATS_RETURNS ? r : 0]);
	if (r < 0)
		return r;
	vcpu_to_conf(vcpu, &conf);
	conf.ret = r;
	if (copy_to_user(uconf, &conf, sizeof(conf)))
		return -EFAULT;
	return 0;
}

/*
 * DUNE_QUEUE_INTR: the argument is a pointer to a __u32 vector (as _IOW
 * says).  A plain vector value (32..255) is accepted too, since no valid
 * user pointer is that small.
 */
long dune_ioctl_queue_intr(struct dune_file *df, unsigned long arg)
{
	struct dune_vcpu *vcpu;
	u32 vec;

	if (arg >= 32 && arg < DUNE_NR_VECTORS)
		vec = arg;
	else if (get_user(vec, (u32 __user *)arg))
		return -EFAULT;
	if (vec < 32 || vec >= DUNE_NR_VECTORS)
		return -EINVAL;

	mutex_lock(&df->lock);
	vcpu = find_vcpu(df, current);
	if (vcpu)
		set_bit(vec, vcpu->pending_intr);
	mutex_unlock(&df->lock);
	return vcpu ? 0 : -ENOENT;
}
