// SPDX-License-Identifier: GPL-2.0
/*
 * vmx_hw.c - VMX capability probing and per-CPU VMXON/VMXOFF.
 *
 * VMX is switched on (on every online CPU) only while at least one Dune vCPU
 * exists, and off again when the last one is destroyed, so dune.ko does not
 * keep VMX busy when nobody uses it.  CPU hotplug is followed through a
 * dynamic cpuhp state; reboot and emergency (crash/NMI shootdown) paths turn
 * VMX off so INIT works afterwards.
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/module.h>
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/reboot.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/idr.h>
#include <linux/namei.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>
#include <asm/reboot.h>
#include <asm/special_insns.h>

#include "dune_internal.h"
#include "vmx_ops.h"

struct dune_vmx_caps dune_caps;
DEFINE_PER_CPU(struct dune_cpu, dune_cpu);

static DEFINE_MUTEX(vmx_users_lock);	/* serialises dune_vmx_get/put */
static int vmx_users;
static bool vmx_wanted;			/* VMX should be on on online CPUs */
static bool vmx_rebooting;
static bool emergency_cb_registered;
static enum cpuhp_state dune_hp_state;
static DEFINE_IDA(vpid_ida);

bool dune_vmx_rebooting(void)
{
	return READ_ONCE(vmx_rebooting);
}

/* Combine wanted control bits with what the CPU allows; -EIO if impossible. */
static int adjust_ctls(u32 want, u32 optional, u32 msr, u32 *out)
{
	u32 lo, hi, ctl;

	rdmsr(msr, lo, hi);
	ctl = want | optional;
	ctl &= hi;		/* allowed-1 settings */
	ctl |= lo;		/* must-be-1 settings */
	if ((ctl & want) != want) {
		pr_err("required VMX controls %#x missing in MSR %#x (allowed %#x)\n",
		       want & ~ctl, msr, hi);
		return -EIO;
	}
	*out = ctl;
	return 0;
}

static int probe_caps(void)
{
	u64 basic, ept_vpid;
	bool true_ctls;
	u32 pin_msr, proc_msr, exit_msr, entry_msr;
	u32 phys_bits;
	u32 proc2_opt;
	int r;

	if (!boot_cpu_has(X86_FEATURE_VMX)) {
		pr_err("CPU has no VMX, or the firmware disabled it in IA32_FEATURE_CONTROL\n");
		return -ENODEV;
	}

	rdmsrl(MSR_IA32_VMX_BASIC, basic);
	dune_caps.revision_id = basic & 0x7fffffff;
	if (((basic & VMX_BASIC_MEM_TYPE_MASK) >> VMX_BASIC_MEM_TYPE_SHIFT) !=
	    VMX_BASIC_MEM_TYPE_WB) {
		pr_err("VMCS memory type is not write-back\n");
		return -EIO;
	}
	if (basic & VMX_BASIC_64) {
		pr_err("VMX limited to 32-bit physical addresses\n");
		return -EIO;
	}
	true_ctls = basic & VMX_BASIC_TRUE_CTLS;
	pin_msr = true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS;
	proc_msr = true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS;
	exit_msr = true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS;
	entry_msr = true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS;

	r = adjust_ctls(PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING, 0,
			pin_msr, &dune_caps.pin_ctl);
	if (r)
		return r;

	/*
	 * Exit on everything that touches host-owned resources: port I/O,
	 * debug registers, CR8 (the real TPR), MONITOR/MWAIT, RDPMC, HLT.
	 * CR3 accesses, INVLPG and RDTSC run natively (EPT confines them).
	 */
	r = adjust_ctls(CPU_BASED_HLT_EXITING | CPU_BASED_UNCOND_IO_EXITING |
			CPU_BASED_MOV_DR_EXITING | CPU_BASED_CR8_LOAD_EXITING |
			CPU_BASED_CR8_STORE_EXITING | CPU_BASED_MWAIT_EXITING |
			CPU_BASED_MONITOR_EXITING | CPU_BASED_RDPMC_EXITING |
			CPU_BASED_USE_MSR_BITMAPS |
			CPU_BASED_ACTIVATE_SECONDARY_CONTROLS, 0,
			proc_msr, &dune_caps.proc_ctl);
	if (r)
		return r;
	/* These must be clearable (true controls make them so). */
	dune_caps.proc_ctl &= ~(CPU_BASED_CR3_LOAD_EXITING |
				CPU_BASED_CR3_STORE_EXITING |
				CPU_BASED_INVLPG_EXITING);
	{
		u32 lo, hi;

		rdmsr(proc_msr, lo, hi);
		if (lo & (CPU_BASED_CR3_LOAD_EXITING | CPU_BASED_CR3_STORE_EXITING |
			  CPU_BASED_INVLPG_EXITING | CPU_BASED_INTR_WINDOW_EXITING)) {
			pr_err("CPU forces CR3/INVLPG/interrupt-window exiting\n");
			return -EIO;
		}
		if (!(hi & CPU_BASED_INTR_WINDOW_EXITING)) {
			pr_err("interrupt-window exiting not supported\n");
			return -EIO;
		}
	}

	/* Optional features the guest can use natively if the host has them. */
	proc2_opt = SECONDARY_EXEC_ENABLE_VPID | SECONDARY_EXEC_WBINVD_EXITING;
	if (boot_cpu_has(X86_FEATURE_RDTSCP) || boot_cpu_has(X86_FEATURE_RDPID))
		proc2_opt |= SECONDARY_EXEC_ENABLE_RDTSCP;
	if (boot_cpu_has(X86_FEATURE_INVPCID))
		proc2_opt |= SECONDARY_EXEC_ENABLE_INVPCID;
	if (boot_cpu_has(X86_FEATURE_XSAVES))
		proc2_opt |= SECONDARY_EXEC_XSAVES;
	r = adjust_ctls(SECONDARY_EXEC_ENABLE_EPT, proc2_opt,
			MSR_IA32_VMX_PROCBASED_CTLS2, &dune_caps.proc2_ctl);
	if (r)
		return r;

	r = adjust_ctls(VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_LOAD_IA32_EFER,
			VM_EXIT_SAVE_DEBUG_CONTROLS, exit_msr, &dune_caps.exit_ctl);
	if (r)
		return r;
	/* The host takes external interrupts itself once IF=1 again. */
	if (dune_caps.exit_ctl & VM_EXIT_ACK_INTR_ON_EXIT) {
		pr_err("CPU forces acknowledge-interrupt-on-exit\n");
		return -EIO;
	}
	r = adjust_ctls(VM_ENTRY_IA32E_MODE | VM_ENTRY_LOAD_IA32_EFER,
			VM_ENTRY_LOAD_DEBUG_CONTROLS, entry_msr, &dune_caps.entry_ctl);
	if (r)
		return r;

	rdmsrl(MSR_IA32_VMX_EPT_VPID_CAP, ept_vpid);
	if (!(ept_vpid & VMX_EPT_PAGE_WALK_4_BIT) || !(ept_vpid & VMX_EPTP_WB_BIT) ||
	    !(ept_vpid & VMX_EPT_INVEPT_BIT) ||
	    !(ept_vpid & (VMX_EPT_EXTENT_CONTEXT_BIT | VMX_EPT_EXTENT_GLOBAL_BIT))) {
		pr_err("EPT lacks 4-level walks, WB memory type or INVEPT (cap %#llx)\n",
		       ept_vpid);
		return -EIO;
	}
	if (!(ept_vpid & VMX_EPT_EXTENT_GLOBAL_BIT)) {
		pr_err("INVEPT all-context not supported\n");
		return -EIO;
	}
	dune_caps.invept_single = ept_vpid & VMX_EPT_EXTENT_CONTEXT_BIT;

	dune_caps.invvpid_type = -1;
	if (ept_vpid & ((u64)VMX_VPID_INVVPID_BIT << 32)) {
		if (ept_vpid & ((u64)VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT << 32))
			dune_caps.invvpid_type = VMX_VPID_EXTENT_SINGLE_CONTEXT;
		else if (ept_vpid & ((u64)VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT << 32))
			dune_caps.invvpid_type = VMX_VPID_EXTENT_ALL_CONTEXT;
	}
	dune_caps.has_vpid = (dune_caps.proc2_ctl & SECONDARY_EXEC_ENABLE_VPID) &&
			     dune_caps.invvpid_type >= 0;
	if (!dune_caps.has_vpid)
		dune_caps.proc2_ctl &= ~SECONDARY_EXEC_ENABLE_VPID;

	rdmsrl(MSR_IA32_VMX_CR0_FIXED0, dune_caps.cr0_fixed0);
	rdmsrl(MSR_IA32_VMX_CR0_FIXED1, dune_caps.cr0_fixed1);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED0, dune_caps.cr4_fixed0);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED1, dune_caps.cr4_fixed1);

	/* CPUID 0x80000008 EAX[7:0]; a 4-level EPT reaches 48 bits at most. */
	phys_bits = cpuid_eax(0x80000008) & 0xff;
	if (phys_bits < 36)
		phys_bits = 36;
	if (phys_bits > 48)
		phys_bits = 48;
	dune_caps.phys_limit = 1ULL << phys_bits;

	pr_info("VMX rev %#x, pin %#x proc %#x proc2 %#x exit %#x entry %#x, VPID %s, guest-physical limit %#llx\n",
		dune_caps.revision_id, dune_caps.pin_ctl, dune_caps.proc_ctl,
		dune_caps.proc2_ctl, dune_caps.exit_ctl, dune_caps.entry_ctl,
		dune_caps.has_vpid ? "on" : "off", dune_caps.phys_limit);
	return 0;
}

/* Runs on the target CPU with interrupts disabled. */
void dune_vcpu_clear_on_cpu(void *arg)
{
	struct dune_vcpu *vcpu = arg;
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);

	if (READ_ONCE(vcpu->cpu) != smp_processor_id())
		return;		/* already cleared, e.g. by CPU offlining */
	dune_vmclear(__pa(vcpu->vmcs));
	if (dc->current_vmcs == vcpu->vmcs)
		dc->current_vmcs = NULL;
	list_del(&vcpu->cpu_link);
	vcpu->launched = false;
	/* Order the list removal before the owner sees cpu == -1. */
	smp_wmb();
	WRITE_ONCE(vcpu->cpu, -1);
}

struct vmxon_result {
	atomic_t busy;
	atomic_t failed;
};

/* Interrupts disabled (IPI or hotplug callback with irqs off). */
static void cpu_vmx_on(void *data)
{
	struct vmxon_result *res = data;
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	u64 feat, cr0;

	if (dc->vmx_on)
		return;
	if (__read_cr4() & X86_CR4_VMXE) {
		pr_err("CPU %d: CR4.VMXE already set: another hypervisor (e.g. kvm_intel with a running VM) owns VMX\n",
		       smp_processor_id());
		atomic_inc(&res->busy);
		return;
	}
	rdmsrl(MSR_IA32_FEAT_CTL, feat);
	if (!(feat & FEAT_CTL_LOCKED) || !(feat & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX)) {
		pr_err("CPU %d: IA32_FEATURE_CONTROL (%#llx) does not allow VMXON\n",
		       smp_processor_id(), feat);
		atomic_inc(&res->failed);
		return;
	}
	cr0 = read_cr0();
	if ((cr0 & dune_caps.cr0_fixed0) != dune_caps.cr0_fixed0 ||
	    (cr0 & ~dune_caps.cr0_fixed1)) {
		pr_err("CPU %d: host CR0 %#llx violates VMX fixed bits\n",
		       smp_processor_id(), cr0);
		atomic_inc(&res->failed);
		return;
	}

	cr4_set_bits(X86_CR4_VMXE);
	if (dune_vmxon(__pa(dc->vmxon_region))) {
		cr4_clear_bits(X86_CR4_VMXE);
		pr_err("CPU %d: VMXON failed\n", smp_processor_id());
		atomic_inc(&res->failed);
		return;
	}
	dc->vmx_on = true;
	dc->current_vmcs = NULL;
	/* Host values of MSRs a VM exit does not reload (constant per CPU). */
	rdmsrl(MSR_STAR, dc->star);
	rdmsrl(MSR_LSTAR, dc->lstar);
	rdmsrl(MSR_CSTAR, dc->cstar);
	rdmsrl(MSR_SYSCALL_MASK, dc->sfmask);
	/* Stale EPT/VPID-tagged TLB entries may survive an earlier VMXOFF. */
	dune_invept(VMX_EPT_EXTENT_GLOBAL, 0);
	if (dune_caps.has_vpid)
		dune_invvpid(VMX_VPID_EXTENT_ALL_CONTEXT, 0, 0);
}

/* Interrupts disabled.  Clears every VMCS still active here, then VMXOFF. */
static void cpu_vmx_off(void *unused)
{
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	struct dune_vcpu *vcpu, *tmp;

	if (!dc->vmx_on)
		return;
	list_for_each_entry_safe(vcpu, tmp, &dc->loaded, cpu_link)
		dune_vcpu_clear_on_cpu(vcpu);
	asm volatile("vmxoff" ::: "cc", "memory");
	cr4_clear_bits(X86_CR4_VMXE);
	dc->vmx_on = false;
	dc->current_vmcs = NULL;
}

/*
 * Emergency (crash kexec, NMI shootdown, emergency restart): VMX blocks INIT,
 * so leave VMX operation.  May run in NMI context: no locks, no VMCLEAR.
 */
static void dune_emergency_disable(void)
{
	if (__read_cr4() & X86_CR4_VMXE) {
		asm volatile("1: vmxoff\n\t"
			     "2:\n\t"
			     _ASM_EXTABLE(1b, 2b)
			     ::: "cc", "memory");
		cr4_clear_bits(X86_CR4_VMXE);
	}
	this_cpu_ptr(&dune_cpu)->vmx_on = false;
}

/*
 * The kernel has a single emergency-virt callback slot, which kvm_intel
 * claims while it is loaded (its callback VMXOFFs regardless of owner, so
 * it covers us too).  Claim the slot only when kvm_intel is absent, to avoid
 * the WARN on double registration.
 */
static bool kvm_intel_loaded(void)
{
	struct path p;

	if (kern_path("/sys/module/kvm_intel", 0, &p))
		return false;
	path_put(&p);
	return true;
}

static int dune_cpu_online(unsigned int cpu)
{
	struct vmxon_result res = {};

	if (!READ_ONCE(vmx_wanted))
		return 0;
	local_irq_disable();
	cpu_vmx_on(&res);
	local_irq_enable();
	if (atomic_read(&res.busy))
		return -EBUSY;
	return atomic_read(&res.failed) ? -EIO : 0;
}

static int dune_cpu_offline(unsigned int cpu)
{
	local_irq_disable();
	cpu_vmx_off(NULL);
	local_irq_enable();
	return 0;
}

/* Take a reference on "VMX on everywhere"; the first one turns it on. */
int dune_vmx_get(void)
{
	struct vmxon_result res = {};
	int r = 0;

	mutex_lock(&vmx_users_lock);
	if (vmx_rebooting) {
		r = -EBUSY;
		goto out;
	}
	if (vmx_users++ > 0)
		goto out;

	cpus_read_lock();
	WRITE_ONCE(vmx_wanted, true);
	on_each_cpu(cpu_vmx_on, &res, 1);
	if (atomic_read(&res.busy) || atomic_read(&res.failed)) {
		WRITE_ONCE(vmx_wanted, false);
		on_each_cpu(cpu_vmx_off, NULL, 1);
		vmx_users = 0;
		r = atomic_read(&res.busy) ? -EBUSY : -EIO;
	}
	cpus_read_unlock();
	if (!r && !kvm_intel_loaded()) {
		cpu_emergency_register_virt_callback(dune_emergency_disable);
		emergency_cb_registered = true;
	}
out:
	mutex_unlock(&vmx_users_lock);
	return r;
}

void dune_vmx_put(void)
{
	mutex_lock(&vmx_users_lock);
	if (WARN_ON(vmx_users <= 0))
		goto out;
	if (--vmx_users > 0)
		goto out;
	if (emergency_cb_registered) {
		cpu_emergency_unregister_virt_callback(dune_emergency_disable);
		emergency_cb_registered = false;
	}
	cpus_read_lock();
	WRITE_ONCE(vmx_wanted, false);
	on_each_cpu(cpu_vmx_off, NULL, 1);
	cpus_read_unlock();
out:
	mutex_unlock(&vmx_users_lock);
}

static int dune_reboot_notify(struct notifier_block *nb, unsigned long code,
			      void *unused)
{
	/* Orderly reboot/kexec: refuse new entries and leave VMX everywhere. */
	WRITE_ONCE(vmx_rebooting, true);
	WRITE_ONCE(vmx_wanted, false);
	on_each_cpu(cpu_vmx_off, NULL, 1);
	return NOTIFY_OK;
}

static struct notifier_block dune_reboot_nb = {
	.notifier_call = dune_reboot_notify,
};

int dune_vpid_alloc(void)
{
	int id;

	if (!dune_caps.has_vpid)
		return 0;
	id = ida_alloc_range(&vpid_ida, 1, 0xffff, GFP_KERNEL);
	return id < 0 ? 0 : id;
}

void dune_vpid_free(int vpid)
{
	if (vpid > 0)
		ida_free(&vpid_ida, vpid);
}

int dune_vmx_init(void)
{
	int cpu, r;

	r = probe_caps();
	if (r)
		return r;

	for_each_possible_cpu(cpu) {
		struct dune_cpu *dc = per_cpu_ptr(&dune_cpu, cpu);
		struct page *pg;

		INIT_LIST_HEAD(&dc->loaded);
		pg = alloc_pages_node(cpu_to_node(cpu), GFP_KERNEL | __GFP_ZERO, 0);
		if (!pg) {
			r = -ENOMEM;
			goto free;
		}
		dc->vmxon_region = page_address(pg);
		*(u32 *)dc->vmxon_region = dune_caps.revision_id;
	}

	r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "dune:online",
			      dune_cpu_online, dune_cpu_offline);
	if (r < 0)
		goto free;
	dune_hp_state = r;
	register_reboot_notifier(&dune_reboot_nb);
	return 0;

free:
	for_each_possible_cpu(cpu) {
		struct dune_cpu *dc = per_cpu_ptr(&dune_cpu, cpu);

		if (dc->vmxon_region)
			free_page((unsigned long)dc->vmxon_region);
		dc->vmxon_region = NULL;
	}
	return r;
}

void dune_vmx_exit(void)
{
	int cpu;

	unregister_reboot_notifier(&dune_reboot_nb);
	cpuhp_remove_state(dune_hp_state);	/* VMXOFF on all CPUs */
	WARN_ON(vmx_users);
	for_each_possible_cpu(cpu) {
		struct dune_cpu *dc = per_cpu_ptr(&dune_cpu, cpu);

		if (dc->vmxon_region)
			free_page((unsigned long)dc->vmxon_region);
		dc->vmxon_region = NULL;
	}
	ida_destroy(&vpid_ida);
}
