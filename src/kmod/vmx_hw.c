// SPDX-License-Identifier: GPL-2.0
/*
 * vmx_hw.c - per-CPU VMXON/VMXOFF, and living next to another hypervisor.
 *
 * VMX is switched on (on every online CPU) only while at least one Dune vCPU
 * exists, and off again when the last one is destroyed, so dune.ko does not
 * keep VMX busy when nobody uses it.  CPU hotplug is followed through a
 * dynamic cpuhp state; reboot and emergency (crash/NMI shootdown) paths turn
 * VMX off so INIT works afterwards.
 *
 * kvm_intel: whoever turns VMX on first owns it until it turns it off; the
 * other one sees CR4.VMXE set and fails cleanly (KVM_CREATE_VM -EBUSY, or
 * DUNE_ENTER -EBUSY with a log line).  The kernel has one emergency-virt
 * callback slot, which kvm_intel claims at load and WARNs if it is taken.
 * dune.ko holds it only while kvm_intel is absent, handing it over through a
 * module notifier before kvm_intel's init runs; kvm_intel's callback turns
 * VMX off whoever owns it, so it covers Dune too.
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
#include <asm/perf_event.h>

#include "dune_internal.h"
#include "vmx_ops.h"

DEFINE_PER_CPU(struct dune_cpu, dune_cpu);

/* Serialises dune_vmx_get/put and the reboot notifier. */
static DEFINE_MUTEX(vmx_users_lock);
static int vmx_users;
static bool vmx_wanted;			/* VMX should be on on online CPUs */
static bool vmx_rebooting;
static enum cpuhp_state dune_hp_state;
static DEFINE_IDA(vpid_ida);

/* The emergency-virt callback slot: ours unless kvm_intel is loaded. */
static DEFINE_MUTEX(emergency_lock);
static bool emergency_cb_registered;

bool dune_vmx_rebooting(void)
{
	return READ_ONCE(vmx_rebooting);
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
	if (cr4_read_shadow() & X86_CR4_VMXE) {
		pr_err("CPU %d: VMX is in use by another hypervisor (CR4.VMXE set, e.g. kvm_intel with a VM): Dune cannot run until it is released\n",
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

	/* Intel PT without VMX support must stop tracing, or VMXON fails. */
	intel_pt_handle_vmx(1);
	cr4_set_bits(X86_CR4_VMXE);
	if (dune_vmxon(__pa(dc->vmxon_region))) {
		cr4_clear_bits(X86_CR4_VMXE);
		intel_pt_handle_vmx(0);
		pr_err("CPU %d: VMXON failed\n", smp_processor_id());
		atomic_inc(&res->failed);
		return;
	}
	dc->vmx_on = true;
	dc->current_vmcs = NULL;
	dune_uret_cpu_init();
	/* Stale EPT/VPID-tagged TLB entries may survive an earlier VMXOFF. */
	dune_invept(VMX_EPT_EXTENT_GLOBAL, 0);
	if (dune_caps.has_vpid)
		dune_invvpid(VMX_VPID_EXTENT_ALL_CONTEXT, 0, 0);
}

/*
 * Interrupts disabled.  Clears every VMCS still active here, then VMXOFF.
 * No vCPU can run here any more, so the host's syscall MSRs go back now
 * rather than at the next return to user mode.
 */
static void cpu_vmx_off(void *unused)
{
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	struct dune_vcpu *vcpu, *tmp;

	if (!dc->vmx_on)
		return;
	list_for_each_entry_safe(vcpu, tmp, &dc->loaded, cpu_link)
		dune_vcpu_clear_on_cpu(vcpu);
	dune_vmxoff();
	cr4_clear_bits(X86_CR4_VMXE);
	intel_pt_handle_vmx(0);
	dc->vmx_on = false;
	dc->current_vmcs = NULL;
	dune_uret_load_guest(NULL);
	dc->uret_valid = false;
}

/*
 * Emergency (crash kexec, NMI shootdown, emergency restart): VMX blocks INIT,
 * so leave VMX operation.  May run in NMI context: no locks, no VMCLEAR.
 */
static void dune_emergency_disable(void)
{
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);

	if (!dc->vmx_on)
		return;
	dc->vmx_on = false;
	if (cr4_read_shadow() & X86_CR4_VMXE) {
		dune_vmxoff();
		cr4_clear_bits(X86_CR4_VMXE);
	}
}

static void emergency_claim(void)
{
	lockdep_assert_held(&emergency_lock);
	if (!emergency_cb_registered) {
		cpu_emergency_register_virt_callback(dune_emergency_disable);
		emergency_cb_registered = true;
	}
}

static void emergency_release(void)
{
	lockdep_assert_held(&emergency_lock);
	if (emergency_cb_registered) {
		cpu_emergency_unregister_virt_callback(dune_emergency_disable);
		emergency_cb_registered = false;
	}
}

/*
 * kvm_intel registers its callback in its init (after COMING) and drops it
 * in its exit (before GOING); a failed init also ends in GOING.
 */
static int dune_module_notify(struct notifier_block *nb, unsigned long state, void *data)
{
	struct module *mod = data;

	if (strcmp(mod->name, "kvm_intel"))
		return NOTIFY_DONE;
	mutex_lock(&emergency_lock);
	if (state == MODULE_STATE_COMING)
		emergency_release();
	else if (state == MODULE_STATE_GOING)
		emergency_claim();
	mutex_unlock(&emergency_lock);
	return NOTIFY_OK;
}

static struct notifier_block dune_module_nb = {
	.notifier_call = dune_module_notify,
};

static bool kvm_intel_present(void)
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

	local_irq_disable();
	if (READ_ONCE(vmx_wanted))
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
	if (vmx_users > 0) {
		vmx_users++;
		goto out;
	}

	cpus_read_lock();
	WRITE_ONCE(vmx_wanted, true);
	on_each_cpu(cpu_vmx_on, &res, 1);
	if (atomic_read(&res.busy) || atomic_read(&res.failed)) {
		WRITE_ONCE(vmx_wanted, false);
		on_each_cpu(cpu_vmx_off, NULL, 1);
		r = atomic_read(&res.busy) ? -EBUSY : -EIO;
	} else {
		vmx_users = 1;
	}
	cpus_read_unlock();
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
	cpus_read_lock();
	WRITE_ONCE(vmx_wanted, false);
	on_each_cpu(cpu_vmx_off, NULL, 1);
	cpus_read_unlock();
out:
	mutex_unlock(&vmx_users_lock);
}

/*
 * Orderly reboot/kexec: refuse new entries and leave VMX everywhere.  Under
 * vmx_users_lock, so a concurrent first dune_vmx_get() either finishes its
 * VMXON before this runs (and is undone here) or sees vmx_rebooting.
 */
static int dune_reboot_notify(struct notifier_block *nb, unsigned long code,
			      void *unused)
{
	mutex_lock(&vmx_users_lock);
	WRITE_ONCE(vmx_rebooting, true);
	cpus_read_lock();
	WRITE_ONCE(vmx_wanted, false);
	on_each_cpu(cpu_vmx_off, NULL, 1);
	cpus_read_unlock();
	mutex_unlock(&vmx_users_lock);
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

static void free_vmxon_regions(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct dune_cpu *dc = per_cpu_ptr(&dune_cpu, cpu);

		if (dc->vmxon_region)
			free_page((unsigned long)dc->vmxon_region);
		dc->vmxon_region = NULL;
	}
}

int dune_vmx_init(void)
{
	int cpu, r;

	r = dune_caps_probe();
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

	/* Notifier first: a kvm_intel loading from now on is seen by it. */
	r = register_module_notifier(&dune_module_nb);
	if (r)
		goto unregister;
	mutex_lock(&emergency_lock);
	if (!kvm_intel_present())
		emergency_claim();
	mutex_unlock(&emergency_lock);
	return 0;

unregister:
	unregister_reboot_notifier(&dune_reboot_nb);
	cpuhp_remove_state(dune_hp_state);
free:
	free_vmxon_regions();
	return r;
}

void dune_vmx_exit(void)
{
	unregister_module_notifier(&dune_module_nb);
	mutex_lock(&emergency_lock);
	emergency_release();
	mutex_unlock(&emergency_lock);
	unregister_reboot_notifier(&dune_reboot_nb);
	cpuhp_remove_state(dune_hp_state);	/* VMXOFF, host MSRs on all CPUs */
	WARN_ON(vmx_users);
	free_vmxon_regions();
	ida_destroy(&vpid_ida);
}
