// SPDX-License-Identifier: GPL-2.0
/*
 * capabilities.c - what the CPU's VMX offers, read once at module load.
 *
 * Everything else in dune.ko reads struct dune_vmx_caps (dune_internal.h)
 * instead of the VMX capability MSRs: the controls every VMCS gets, the EPT
 * and VPID invalidation types, the CR0/CR4 fixed bits and the width of the
 * guest-physical address space.  A CPU that lacks something Dune needs is
 * refused here, with the reason, before /dev/dune exists.
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/kernel.h>
#include <asm/cpufeature.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/vmx.h>

#include "dune_internal.h"

struct dune_vmx_caps dune_caps;

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

int dune_caps_probe(void)
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
	/*
	 * Not SECONDARY_EXEC_XSAVES: XSAVES/XRSTORS work on the *host's*
	 * IA32_XSS, i.e. supervisor state (PT trace addresses, CET shadow
	 * stacks, ...) that the guest must neither read nor load.  Without the
	 * control both instructions raise #UD in the guest, and CPUID hides
	 * them (exits.c).
	 */
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
	/* 2 MiB EPT leaves, used where the host maps a huge page (ept.c). */
	dune_caps.ept_2m = ept_vpid & VMX_EPT_2MB_PAGE_BIT;

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

	pr_info("VMX rev %#x, pin %#x proc %#x proc2 %#x exit %#x entry %#x, VPID %s, EPT 2M %s, guest-physical limit %#llx\n",
		dune_caps.revision_id, dune_caps.pin_ctl, dune_caps.proc_ctl,
		dune_caps.proc2_ctl, dune_caps.exit_ctl, dune_caps.entry_ctl,
		dune_caps.has_vpid ? "on" : "off", dune_caps.ept_2m ? "on" : "off",
		dune_caps.phys_limit);
	return 0;
}

