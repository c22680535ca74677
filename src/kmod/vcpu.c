// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu.c - vCPU lifecycle and the run loop.
 *
 * One vCPU per thread, found by the thread's pid in one table (an xarray,
 * read under RCU: no lock on the DUNE_ENTER path).  It is created by
 * DUNE_ENTER with conf.vcpu == 0, and destroyed when its thread exits (a
 * probe on the sched_process_exit tracepoint hands it to a workqueue), when
 * the thread asks for a new one, or when its /dev/dune file is released.
 *
 * Its VMCS stays active on the CPU where it last ran; before every entry
 * (preemption off) we check whether the thread migrated and, if so, VMCLEAR
 * it on the old CPU by IPI and VMPTRLD it here.  Host state a VM exit does
 * not restore is put back lazily (host_state.c): at the end of DUNE_ENTER or
 * when a preempt notifier sees the thread scheduled out.
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
#include <linux/xarray.h>
#include <linux/tracepoint.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/special_insns.h>
#include <uapi/asm/vmx.h>

#include "dune_internal.h"
#include "vmx_ops.h"

static atomic64_t next_vcpu_id = ATOMIC64_INIT(0);

/* Every live vCPU, by its thread's pid (one vCPU per thread). */
static DEFINE_XARRAY(dune_vcpus);
/* Destroys the vCPUs of exited threads (process context, may sleep). */
static struct workqueue_struct *dune_wq;
static struct tracepoint *tp_process_exit;
static struct preempt_ops dune_preempt_ops;

#define DUNE_HOST_WORK (_TIF_NEED_RESCHED | _TIF_SIGPENDING | \
			_TIF_NOTIFY_SIGNAL | _TIF_NOTIFY_RESUME)

/* Bits of RFLAGS a guest may hold (VM must stay 0 in 64-bit mode). */
#define DUNE_RFLAGS_OK (X86_EFLAGS_CF | X86_EFLAGS_FIXED | X86_EFLAGS_PF | \
			X86_EFLAGS_AF | X86_EFLAGS_ZF | X86_EFLAGS_SF | \
			X86_EFLAGS_TF | X86_EFLAGS_IF | X86_EFLAGS_DF | \
			X86_EFLAGS_OF | X86_EFLAGS_IOPL | X86_EFLAGS_NT | \
			X86_EFLAGS_RF | X86_EFLAGS_AC | X86_EFLAGS_VIF | \
			X86_EFLAGS_VIP | X86_EFLAGS_ID)

static int validate_conf(const struct dune_config *c)
{
	if (!dune_is_canonical(c->rip) || !dune_is_canonical(c->rsp))
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

/* Guest RSP/RFLAGS/CR3 (RIP is read after every exit). VMCS current. */
void dune_vcpu_cache_regs(struct dune_vcpu *vcpu)
{
	if (vcpu->regs_cached)
		return;
	vcpu->rsp = vmcs_read(GUEST_RSP);
	vcpu->rflags = vmcs_read(GUEST_RFLAGS);
	vcpu->cr3 = vmcs_read(GUEST_CR3);
	vcpu->regs_cached = true;
}

static void conf_to_vcpu(struct dune_vcpu *v, const struct dune_config *c)
{
	u64 rflags = c->rflags | X86_EFLAGS_FIXED;

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
	/* The VMCS is written only where libdune changed something. */
	if (!v->regs_cached || v->rip != c->rip || v->rsp != c->rsp ||
	    v->rflags != rflags || v->cr3 != c->cr3)
		v->regs_dirty = true;
	v->rip = c->rip;
	v->rsp = c->rsp;
	v->rflags = rflags;
	v->cr3 = c->cr3;
	v->regs_cached = true;
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

/* Guest RSP/RFLAGS/CR3 for a return to user space from a preemptible path. */
static int vcpu_sync_regs(struct dune_vcpu *vcpu)
{
	int r;

	if (vcpu->regs_cached)
		return 0;
	r = vcpu_load_irqoff(vcpu);
	if (r)
		return r;
	dune_vcpu_cache_regs(vcpu);
	local_irq_enable();
	preempt_enable();
	return 0;
}

static void window_exiting(struct dune_vcpu *vcpu, bool on)
{
	if (vcpu->window_exiting == on)
		return;
	if (on)
		vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING);
	else
		vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_BASED_INTR_WINDOW_EXITING);
	vcpu->window_exiting = on;
}

static void inject_pending(struct dune_vcpu *vcpu)
{
	unsigned long vec;
	u32 intr_state;

	if (bitmap_empty(vcpu->pending_intr, DUNE_NR_VECTORS)) {
		window_exiting(vcpu, false);
		return;
	}
	/* An event being re-delivered (IDT vectoring) goes first. */
	if (vmcs_read(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK)
		goto window;
	dune_vcpu_cache_regs(vcpu);
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
		window_exiting(vcpu, false);
		return;
	}
window:
	window_exiting(vcpu, true);
}

/*
 * The interrupts-off part: enter, and restore what the kernel needs before
 * interrupts come back (CR2 of the guest kept, DEBUGCTL and DR7 the host's).
 * Returns 0 after a VM exit, 1 on VMfail.
 */
static int vcpu_enter_irqoff(struct dune_vcpu *vcpu)
{
	u64 host_debugctl;
	unsigned long host_dr7;
	int fail;

	rdmsrl(MSR_IA32_DEBUGCTLMSR, host_debugctl);
	get_debugreg(host_dr7, 7);
	/* The MSR-load lists: each MSR written at entry and again at exit. */
	dune_stat_add(vcpu, msr_writes, 2 * vcpu->nr_autoload);
	if (native_read_cr2() != vcpu->cr2)
		native_write_cr2(vcpu->cr2);
	dune_l1d_flush(vcpu);

	fail = dune_vmx_run(&vcpu->regs, vcpu->launched);

	vcpu->cr2 = native_read_cr2();
	/* VM exits clear DEBUGCTL and set DR7 to 0x400. */
	if (host_debugctl) {
		wrmsrl(MSR_IA32_DEBUGCTLMSR, host_debugctl);
		dune_stat_inc(vcpu, msr_writes);
	}
	if (host_dr7 & 0xff)
		set_debugreg(host_dr7, 7);
	/* vmx_entry.S rewrites SPEC_CTRL after the exit under legacy IBRS. */
	if (cpu_feature_enabled(X86_FEATURE_KERNEL_IBRS))
		dune_stat_inc(vcpu, msr_writes);
	dune_mitigations_after_exit();
	return fail;
}

/*
 * An exit in the middle of delivering a guest event (typically an EPT
 * violation on the guest's IDT or stack page) must re-deliver it.
 */
static void redeliver_event(struct dune_vcpu *vcpu)
{
	u32 idt = vmcs_read(IDT_VECTORING_INFO_FIELD);
	u32 type;

	if (!(idt & VECTORING_INFO_VALID_MASK))
		return;
	type = idt & VECTORING_INFO_TYPE_MASK;
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD,
		   idt & (VECTORING_INFO_VALID_MASK | VECTORING_INFO_TYPE_MASK |
			  VECTORING_INFO_DELIVER_CODE_MASK | VECTORING_INFO_VECTOR_MASK));
	if (idt & VECTORING_INFO_DELIVER_CODE_MASK)
		vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE,
			   vmcs_read(IDT_VECTORING_ERROR_CODE));
	if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
	    type == INTR_TYPE_PRIV_SW_EXCEPTION)
		vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vmcs_read(VM_EXIT_INSTRUCTION_LEN));
	dune_stat_inc(vcpu, events_reinjected);
}

/* The run loop.  Returns a DUNE_RET_* (> 0) or a negative errno. */
static int vcpu_run(struct dune_vcpu *vcpu, struct dune_config *conf)
{
	int r;

	for (;;) {
		unsigned long work = read_thread_flags() & DUNE_HOST_WORK;

		if (work & (_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL | _TIF_NOTIFY_RESUME)) {
			r = vcpu_sync_regs(vcpu);
			return r ? r : DUNE_RET_SIGNAL;
		}
		if (work & _TIF_NEED_RESCHED) {
			cond_resched();
			vcpu->l1d_flush = true;
		}
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
		/*
		 * MSR writes: loading the guest's values where the CPU held the
		 * host's counts twice (the user-return notifier writes them back).
		 */
		dune_stat_add(vcpu, msr_writes, dune_host_state_load(vcpu) +
			      dune_uret_load_guest(vcpu->g_uret));
		dune_vmcs_set_host_per_entry(vcpu);
		dune_perf_switch(vcpu);

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
		vcpu->regs_cached = false;
		vcpu->exit_reason = vmcs_read(VM_EXIT_REASON);
		dune_stats_count_exit(vcpu);
		/* A failed entry (exit reason bit 31) does not launch the VMCS. */
		if (!(vcpu->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY)) {
			vcpu->launched = true;
			redeliver_event(vcpu);
		}
		vcpu->rip = vmcs_read(GUEST_RIP);
		dune_handle_exit_irqoff(vcpu);
		/* Cheap, VMCS-only handlers: still interrupts off, see vcpu_load(). */
		r = dune_handle_exit(vcpu, vcpu->exit_reason, conf);
		if (r > 0 && r < DUNE_EXIT_SLOW_EPT)
			dune_vcpu_cache_regs(vcpu);	/* going back to user space */
		local_irq_enable();
		preempt_enable();

		if (r == DUNE_EXIT_SLOW_EPT) {
			bool mapped = false;

			vcpu->l1d_flush = true;
			dune_stat_inc(vcpu, ept_violations);
			r = dune_ept_handle_violation(vcpu->vm, vcpu->exit_gpa,
						      vcpu->exit_qual, &mapped);
			if (mapped)
				dune_stat_inc(vcpu, ept_pages_mapped);
			if (r == 1) {
				conf->status = vcpu->exit_gpa;
				r = vcpu_sync_regs(vcpu);
				return r ? r : DUNE_RET_EPT_VIOLATION;
			}
			if (r < 0)
				return r;
		} else if (r == DUNE_EXIT_SLOW_HLT) {
			vcpu->l1d_flush = true;
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

/* ------------------------------------------------------------ lifecycle */

static void dune_sched_in(struct preempt_notifier *pn, int cpu)
{
	/* Nothing: the run loop reloads the VMCS and the guest state. */
}

static void dune_sched_out(struct preempt_notifier *pn, struct task_struct *next)
{
	dune_host_state_put(container_of(pn, struct dune_vcpu, pn));
}

static void vcpu_destroy(struct dune_vcpu *vcpu)
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
	/* Lookups under RCU may still compare vcpu->task. */
	kfree_rcu(vcpu, rcu);
	dune_vmx_put();
}

static void vcpu_destroy_work(struct work_struct *work)
{
	vcpu_destroy(container_of(work, struct dune_vcpu, destroy_work));
}

/*
 * Take a vCPU off its file and out of the table.  Returns true if the caller
 * now owns its destruction (false: someone else got there first).  Callers
 * hold rcu_read_lock() or otherwise keep vcpu->file alive.
 */
static bool vcpu_unlink(struct dune_vcpu *vcpu)
{
	struct dune_file *df = vcpu->file;
	bool owner = false;

	spin_lock(&df->lock);
	if (vcpu->on_file) {
		list_del(&vcpu->file_link);
		dune_stats_fold(df, vcpu);
		vcpu->on_file = false;
		xa_cmpxchg(&dune_vcpus, vcpu->pid, vcpu, NULL, 0);
		owner = true;
	}
	spin_unlock(&df->lock);
	return owner;
}

/*
 * sched_process_exit: the thread is leaving (preemption off, its mm already
 * gone).  Its vCPU is useless from now on: destroy it in process context.
 */
static void dune_process_exit(void *data, struct task_struct *p)
{
	struct dune_vcpu *vcpu;

	rcu_read_lock();
	vcpu = xa_load(&dune_vcpus, p->pid);
	if (vcpu && vcpu->task == p && vcpu_unlink(vcpu))
		queue_work(dune_wq, &vcpu->destroy_work);
	rcu_read_unlock();
}

static struct dune_vcpu *vcpu_create(struct dune_file *df)
{
	struct dune_vcpu *vcpu;
	int i, r;

	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		return ERR_PTR(-ENOMEM);
	/* The MSR-load lists are read by the CPU: 16-byte aligned. */
	if (WARN_ON_ONCE(!IS_ALIGNED((unsigned long)vcpu->autoload_guest, 16))) {
		r = -EIO;
		goto free;
	}
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
	INIT_WORK(&vcpu->destroy_work, vcpu_destroy_work);
	preempt_notifier_init(&vcpu->pn, &dune_preempt_ops);
	vcpu->file = df;
	get_task_struct(current);
	vcpu->task = current;
	vcpu->pid = current->pid;
	vcpu->id = atomic64_inc_return(&next_vcpu_id);
	vcpu->stats.vcpus = 1;
	/*
	 * The guest starts with its own syscall MSRs at their reset values,
	 * never the host's (which would reveal kernel addresses).
	 */
	for (i = 0; i < DUNE_NR_URET; i++)
		vcpu->g_uret[i] = 0;
	vcpu->g_kernel_gs = current->thread.gsbase;
	vcpu->l1d_flush = true;
	return vcpu;

put_vmx:
	dune_vmx_put();
free_vmcs:
	dune_vmcs_free(vcpu->vmcs);
free:
	kfree(vcpu);
	return ERR_PTR(r);
}

/* This thread's vCPU, or NULL.  Only its own thread resumes or replaces it. */
static struct dune_vcpu *current_vcpu(void)
{
	struct dune_vcpu *vcpu;

	rcu_read_lock();
	vcpu = xa_load(&dune_vcpus, current->pid);
	if (vcpu && vcpu->task != current)
		vcpu = NULL;
	rcu_read_unlock();
	return vcpu;
}

/* Replace this thread's vCPU (if any) by a new one on df. */
static struct dune_vcpu *vcpu_recreate(struct dune_file *df)
{
	struct dune_vcpu *old, *vcpu;
	bool owner = false;
	int r;

	rcu_read_lock();
	old = xa_load(&dune_vcpus, current->pid);
	if (old)
		owner = vcpu_unlink(old);
	rcu_read_unlock();
	if (owner)
		vcpu_destroy(old);

	vcpu = vcpu_create(df);
	if (IS_ERR(vcpu))
		return vcpu;
	r = xa_insert(&dune_vcpus, vcpu->pid, vcpu, GFP_KERNEL_ACCOUNT);
	if (r) {
		/* -EBUSY: the slot is still being vacated by a release. */
		vcpu_destroy(vcpu);
		return ERR_PTR(r == -EBUSY ? -EAGAIN : r);
	}
	spin_lock(&df->lock);
	list_add(&vcpu->file_link, &df->vcpus);
	vcpu->on_file = true;
	spin_unlock(&df->lock);
	return vcpu;
}

/* The file is closed: every vCPU still on it goes. */
void dune_file_release(struct dune_file *df)
{
	struct dune_vcpu *vcpu, *tmp;
	LIST_HEAD(dead);

	spin_lock(&df->lock);
	list_for_each_entry_safe(vcpu, tmp, &df->vcpus, file_link) {
		list_move(&vcpu->file_link, &dead);
		dune_stats_fold(df, vcpu);
		vcpu->on_file = false;
		xa_cmpxchg(&dune_vcpus, vcpu->pid, vcpu, NULL, 0);
	}
	spin_unlock(&df->lock);
	list_for_each_entry_safe(vcpu, tmp, &dead, file_link)
		vcpu_destroy(vcpu);
	/* The exit probe may still look at df under RCU. */
	kfree_rcu(df, rcu);
}

long dune_ioctl_enter(struct dune_file *df, struct dune_config __user *uconf)
{
	struct dune_config conf;
	struct dune_vcpu *vcpu;
	bool cr3_bad;
	int r;

	BUILD_BUG_ON(offsetof(struct dune_gprs, rax) != DUNE_GPR_RAX);
	BUILD_BUG_ON(offsetof(struct dune_gprs, rdi) != DUNE_GPR_RDI);
	BUILD_BUG_ON(offsetof(struct dune_gprs, rbp) != DUNE_GPR_RBP);
	BUILD_BUG_ON(offsetof(struct dune_gprs, r8) != DUNE_GPR_R8);
	BUILD_BUG_ON(offsetof(struct dune_gprs, r15) != DUNE_GPR_R15);

	if (copy_from_user(&conf, uconf, sizeof(conf)))
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
	if (conf.vcpu == 0) {
		if (cr3_bad || !user_half(conf.rip) || !user_half(conf.rsp))
			return -EINVAL;
		/*
		 * The result goes back to the same place: refuse a read-only
		 * conf now, rather than create a vCPU and lose where it stopped.
		 */
		if (copy_to_user(uconf, &conf, sizeof(conf)))
			return -EFAULT;
		vcpu = vcpu_recreate(df);
		if (IS_ERR(vcpu))
			return PTR_ERR(vcpu);
	} else {
		vcpu = current_vcpu();
		if (!vcpu || vcpu->file != df || vcpu->id != conf.vcpu ||
		    (cr3_bad && conf.cr3 != vcpu->cr3) ||
		    (!user_half(conf.rip) && conf.rip != vcpu->rip) ||
		    (!user_half(conf.rsp) && conf.rsp != vcpu->rsp))
			return -EINVAL;
	}
	/* After execve the thread has a new mm: the old vCPU is useless. */
	if (vcpu->vm->mn.mm != current->mm)
		return -EINVAL;

	conf_to_vcpu(vcpu, &conf);
	conf.status = 0;
	/* Back from user space: the host may have touched anything. */
	vcpu->l1d_flush = true;

	preempt_disable();
	preempt_notifier_register(&vcpu->pn);
	preempt_enable();
	r = vcpu_run(vcpu, &conf);
	preempt_disable();
	dune_host_state_put(vcpu);
	preempt_notifier_unregister(&vcpu->pn);
	preempt_enable();
	dune_stat_inc(vcpu, ioctl_returns);
	dune_stat_inc(vcpu, returns[r > 0 && r < DUNE_STATS_RETURNS ? r : 0]);
	if (r < 0)
		return r;

	vcpu_to_conf(vcpu, &conf);
	conf.ret = r;
	if (copy_to_user(uconf, &conf, sizeof(conf)))
		return -EFAULT;	/* the vCPU keeps its state: resume from there */
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

	vcpu = current_vcpu();
	if (!vcpu || vcpu->file != df)
		return -ENOENT;
	set_bit(vec, vcpu->pending_intr);
	return 0;
}

/* ------------------------------------------------------------ module */

static void find_process_exit(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_exit"))
		tp_process_exit = tp;
}

int dune_vcpu_init(void)
{
	int r;

	dune_preempt_ops.sched_in = dune_sched_in;
	dune_preempt_ops.sched_out = dune_sched_out;
	dune_wq = alloc_workqueue("dune", 0, 0);
	if (!dune_wq)
		return -ENOMEM;
	/* The tracepoint is not exported, but its registration API is. */
	for_each_kernel_tracepoint(find_process_exit, NULL);
	if (!tp_process_exit) {
		pr_err("kernel has no sched_process_exit tracepoint: cannot free vCPUs at thread exit\n");
		r = -ENOSYS;
		goto free_wq;
	}
	r = tracepoint_probe_register(tp_process_exit, dune_process_exit, NULL);
	if (r)
		goto free_wq;
	preempt_notifier_inc();
	return 0;

free_wq:
	destroy_workqueue(dune_wq);
	return r;
}

void dune_vcpu_exit(void)
{
	tracepoint_probe_unregister(tp_process_exit, dune_process_exit, NULL);
	tracepoint_synchronize_unregister();
	destroy_workqueue(dune_wq);	/* destroys the last exited threads' vCPUs */
	preempt_notifier_dec();
	rcu_barrier();			/* kfree_rcu() callbacks */
	WARN_ON(!xa_empty(&dune_vcpus));
}
