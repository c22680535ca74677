// SPDX-License-Identifier: GPL-2.0
/*
 * host_state.c - the host state a VM exit does not restore, switched as late
 * as it safely can be (the same split KVM makes on this kernel).
 *
 *  - Syscall MSRs (STAR, LSTAR, CSTAR, SFMASK): the guest owns its own from
 *    its first instruction (architectural reset values, 0), so it never sees
 *    the host's (LSTAR would reveal entry_SYSCALL_64 and defeat KASLR).  The
 *    host needs its values only once this CPU runs user code again: they are
 *    loaded before an entry if the CPU does not hold the guest's already, and
 *    put back by a user-return notifier, whichever task next returns to user
 *    mode on this CPU.
 *  - KERNEL_GS_BASE, the FS/GS/DS/ES selectors, LDTR and the GDT/TSS limits:
 *    a VM exit zeroes or shrinks them, and a context switch or the return to
 *    user mode would save or use the wrong ones.  They are put back when the
 *    vCPU is put: at the end of DUNE_ENTER, and from a preempt notifier if
 *    the thread is scheduled out in between.
 *  - perf: counters that must not count in the guest (exclude_guest) and PEBS
 *    (which writes to a linear address that means something else in the
 *    guest) are switched by the VM-entry/VM-exit MSR-load lists, with the
 *    values perf itself asks for (perf_guest_get_msrs).
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/perf_event.h>
#include <asm/desc.h>
#include <asm/msr.h>
#include <asm/perf_event.h>
#include <asm/processor.h>
#include <asm/segment.h>
#include <asm/fsgsbase.h>
#include <asm/special_insns.h>

#include "dune_internal.h"
#include "vmx_ops.h"

static const u32 uret_msrs[DUNE_NR_URET] = {
	[DUNE_URET_STAR]	= MSR_STAR,
	[DUNE_URET_LSTAR]	= MSR_LSTAR,
	[DUNE_URET_CSTAR]	= MSR_CSTAR,
	[DUNE_URET_SFMASK]	= MSR_SYSCALL_MASK,
};

/* Interrupts off: this CPU is returning to user mode. */
static void uret_on_user_return(struct user_return_notifier *urn)
{
	dune_uret_load_guest(NULL);	/* counted when the guest's were loaded */
}

/*
 * Right after VMXON: nobody else's guest values can be loaded now (another
 * hypervisor gives the CPU back with the host's, as KVM does when it turns
 * VMX off, and so does cpu_vmx_off()), so these are the host's.  Interrupts
 * off.
 */
void dune_uret_cpu_init(void)
{
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	int i;

	for (i = 0; i < DUNE_NR_URET; i++) {
		rdmsrl(uret_msrs[i], dc->uret_host[i]);
		dc->uret_curr[i] = dc->uret_host[i];
	}
	dc->urn.on_user_return = uret_on_user_return;
	dc->uret_valid = true;
}

/*
 * Make this CPU hold the guest's syscall MSRs (guest != NULL) or the host's
 * again (NULL, from the notifier or when VMX goes off here).  Only MSRs that
 * differ are written.  Returns the MSR writes to count for the guest: each
 * value loaded where the CPU held the host's counts 2 (its restore follows).
 * Interrupts off.
 */
unsigned int dune_uret_load_guest(const u64 *guest)
{
	struct dune_cpu *dc = this_cpu_ptr(&dune_cpu);
	const u64 *want = guest ? guest : dc->uret_host;
	unsigned int writes = 0;
	bool differs = false;
	int i;

	if (WARN_ON_ONCE(!dc->uret_valid)) {
		if (guest)
			return 0;
		goto unregister;
	}

	for (i = 0; i < DUNE_NR_URET; i++) {
		if (dc->uret_curr[i] != want[i]) {
			/* Leaving the host's value: it is written back later, count both. */
			writes += dc->uret_curr[i] == dc->uret_host[i] ? 2 : 1;
			wrmsrl(uret_msrs[i], want[i]);
			dc->uret_curr[i] = want[i];
		}
		differs |= want[i] != dc->uret_host[i];
	}
	if (differs && !dc->uret_registered) {
		user_return_notifier_register(&dc->urn);
		dc->uret_registered = true;
		return writes;
	}
	if (guest)
		return writes;
unregister:
	if (dc->uret_registered) {
		user_return_notifier_unregister(&dc->urn);
		dc->uret_registered = false;
	}
	return writes;
}

/*
 * Before the first entry after a put: remember what the exit will clobber,
 * point the VMCS host area at this thread's FS base and selectors, and load
 * the guest's KERNEL_GS_BASE.  Preemption and interrupts off, VMCS current.
 * Returns the MSR writes this load and the matching put make.
 */
unsigned int dune_host_state_load(struct dune_vcpu *vcpu)
{
	struct dune_host_state *h = &vcpu->host;
	unsigned int writes = 0;
	u16 fs_sel, gs_sel;

	if (vcpu->guest_state_loaded)
		return 0;
	asm volatile("sldt %0" : "=g"(h->ldt_sel));
	savesegment(ds, h->ds_sel);
	savesegment(es, h->es_sel);
	/* The thread's user FS/GS selectors and bases, as a context switch sees them. */
	current_save_fsgs();
	h->fs_sel = current->thread.fsindex;
	h->gs_sel = current->thread.gsindex;
	h->fs_base = current->thread.fsbase;
	h->kernel_gs_base = current->thread.gsbase;

	/* A VM exit can only load selectors with RPL 0 and TI 0: others by hand. */
	fs_sel = (h->fs_sel & 7) ? 0 : h->fs_sel;
	gs_sel = (h->gs_sel & 7) ? 0 : h->gs_sel;
	vmcs_write(HOST_FS_SELECTOR, fs_sel);
	vmcs_write(HOST_GS_SELECTOR, gs_sel);
	if (vcpu->vmcs_host.fs_base != h->fs_base) {
		vmcs_write(HOST_FS_BASE, h->fs_base);
		vcpu->vmcs_host.fs_base = h->fs_base;
	}

	/* Host-side arch_prctl(ARCH_SET_FS/GS) by libdune reaches the guest. */
	if (h->fs_base != vcpu->synced_fs) {
		vmcs_write(GUEST_FS_BASE, h->fs_base);
		vcpu->synced_fs = h->fs_base;
	}
	if (h->kernel_gs_base != vcpu->synced_gs) {
		vmcs_write(GUEST_GS_BASE, h->kernel_gs_base);
		vcpu->synced_gs = h->kernel_gs_base;
	}

	if (vcpu->g_kernel_gs != h->kernel_gs_base) {
		wrmsrl(MSR_KERNEL_GS_BASE, vcpu->g_kernel_gs);
		writes += 2;	/* and back at the put */
	}
	/* The put also rewrites FS_BASE/KERNEL_GS_BASE after a selector reload. */
	if (h->fs_sel & 7)
		writes++;
	if ((h->ldt_sel || (h->gs_sel & 7)) && vcpu->g_kernel_gs == h->kernel_gs_base)
		writes++;
	vcpu->guest_state_loaded = true;
	return writes;
}

/*
 * Give the CPU back to the host: at the end of DUNE_ENTER, or when the thread
 * is scheduled out (preempt notifier, interrupts off).  The guest's syscall
 * MSRs stay until the next return to user mode (see above).
 */
void dune_host_state_put(struct dune_vcpu *vcpu)
{
	struct dune_host_state *h = &vcpu->host;

	if (!vcpu->guest_state_loaded)
		return;
	/* KERNEL_GS_BASE is the guest's to read and write (MSR bitmap). */
	rdmsrl(MSR_KERNEL_GS_BASE, vcpu->g_kernel_gs);
	if (h->ldt_sel || (h->gs_sel & 7)) {
		if (h->ldt_sel)
			asm volatile("lldt %0" : : "rm"(h->ldt_sel));
		/* Loads the user GS selector (and base): KERNEL_GS_BASE is fixed below. */
		load_gs_index(h->gs_sel);
	}
	if (h->fs_sel & 7) {
		loadsegment(fs, h->fs_sel);
		/* The selector load took the descriptor's base: the thread's may differ. */
		wrmsrl(MSR_FS_BASE, h->fs_base);
	}
	if (unlikely(h->ds_sel | h->es_sel)) {
		loadsegment(ds, h->ds_sel);
		loadsegment(es, h->es_sel);
	}
	if (vcpu->g_kernel_gs != h->kernel_gs_base || h->ldt_sel || (h->gs_sel & 7))
		wrmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	/* VM exits set the GDT limit to 0xffff and the TR limit to 0x67. */
	invalidate_tss_limit();
	load_fixmap_gdt(raw_smp_processor_id());
	vcpu->guest_state_loaded = false;
}

/*
 * perf: the MSR values it wants while a guest runs and back on the host.
 * Only MSRs whose two values differ go into the VM-entry/exit MSR-load
 * lists; with no such perf events (the usual case) the lists stay empty.
 * Interrupts off, VMCS current.
 */
void dune_perf_switch(struct dune_vcpu *vcpu)
{
	struct perf_guest_switch_msr *msrs;
	unsigned int n = 0;
	int nr = 0, i;

	msrs = perf_guest_get_msrs(&nr, NULL);
	for (i = 0; msrs && i < nr && n < DUNE_MAX_AUTOLOAD; i++) {
		if (msrs[i].host == msrs[i].guest)
			continue;
		if (vcpu->autoload_guest[n].index != msrs[i].msr ||
		    vcpu->autoload_guest[n].value != msrs[i].guest ||
		    vcpu->autoload_host[n].value != msrs[i].host) {
			vcpu->autoload_guest[n].index = msrs[i].msr;
			vcpu->autoload_guest[n].value = msrs[i].guest;
			vcpu->autoload_host[n].index = msrs[i].msr;
			vcpu->autoload_host[n].value = msrs[i].host;
		}
		n++;
	}
	if (n != vcpu->nr_autoload) {
		vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, n);
		vmcs_write(VM_EXIT_MSR_LOAD_COUNT, n);
		vcpu->nr_autoload = n;
	}
}
