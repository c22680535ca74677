// SPDX-License-Identifier: GPL-2.0
/*
 * vmcs.c - VMCS allocation and field setup.
 *
 * The guest is a 64-bit, CPL0, paged context whose page tables (CR3) are the
 * caller's; all physical memory it sees is the EPT of its process.  Host
 * state is what the ioctl-calling thread had, re-read whenever it can change
 * (per CPU on VMPTRLD, per entry for CR3/CR4/FS/GS).
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <asm/desc.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/fpu/api.h>
#include <asm/segment.h>
#include <asm/trapnr.h>

#include "dune_internal.h"
#include "vmx_ops.h"

static unsigned long *msr_bitmap;	/* shared by all vCPUs, never written after init */

void *dune_vmcs_alloc(void)
{
	struct page *pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	void *v;

	if (!pg)
		return NULL;
	v = page_address(pg);
	*(u32 *)v = dune_caps.revision_id;
	return v;
}

void dune_vmcs_free(void *vmcs)
{
	if (vmcs)
		free_page((unsigned long)vmcs);
}

/* Bitmap layout (SDM 25.6.9): read-low, read-high, write-low, write-high. */
static void msr_allow(u32 msr, bool read, bool write)
{
	unsigned long base;

	if (msr <= 0x1fff) {
		base = 0;
	} else if (msr >= 0xc0000000 && msr <= 0xc0001fff) {
		base = 1024 * 8;	/* in bits */
		msr &= 0x1fff;
	} else {
		return;
	}
	if (read)
		__clear_bit(base + msr, msr_bitmap);
	if (write)
		__clear_bit(base + 2048 * 8 + msr, msr_bitmap);
}

int dune_vmcs_init(void)
{
	msr_bitmap = (unsigned long *)__get_free_page(GFP_KERNEL);
	if (!msr_bitmap)
		return -ENOMEM;
	memset(msr_bitmap, 0xff, PAGE_SIZE);	/* intercept everything ... */
	/* ... except state that the VMCS or the entry path switches. */
	msr_allow(MSR_FS_BASE, true, true);
	msr_allow(MSR_GS_BASE, true, true);
	msr_allow(MSR_KERNEL_GS_BASE, true, true);
	/*
	 * The CPU holds the guest's own values while it runs (host_state.c):
	 * reads see them; writes are emulated (exits.c), so dune.ko always
	 * knows what to switch.
	 */
	msr_allow(MSR_STAR, true, false);
	msr_allow(MSR_LSTAR, true, false);
	msr_allow(MSR_CSTAR, true, false);
	msr_allow(MSR_SYSCALL_MASK, true, false);
	msr_allow(MSR_TSC_AUX, true, false);
	return 0;
}

void dune_vmcs_exit(void)
{
	free_page((unsigned long)msr_bitmap);
}

/* TR base from the descriptor the CPU actually uses (KASLR/PTI safe). */
static unsigned long host_tr_base(void)
{
	struct desc_ptr gdt;
	u16 tr;
	struct ldttss_desc *d;
	unsigned long base;

	native_store_gdt(&gdt);
	asm volatile("str %0" : "=r"(tr));
	d = (struct ldttss_desc *)(gdt.address + (tr & ~7));
	base = d->base0 | ((unsigned long)d->base1 << 16) |
	       ((unsigned long)d->base2 << 24) | ((unsigned long)d->base3 << 32);
	return base;
}

/* Host fields that differ per CPU; VMCS must be current on this CPU. */
void dune_vmcs_set_host_percpu(void)
{
	struct desc_ptr dt;
	unsigned long gsbase;

	native_store_gdt(&dt);
	vmcs_write(HOST_GDTR_BASE, dt.address);
	store_idt(&dt);
	vmcs_write(HOST_IDTR_BASE, dt.address);
	vmcs_write(HOST_TR_BASE, host_tr_base());
	rdmsrl(MSR_GS_BASE, gsbase);		/* kernel per-CPU base */
	vmcs_write(HOST_GS_BASE, gsbase);
	{
		u64 v;

		rdmsrl(MSR_IA32_SYSENTER_CS, v);
		vmcs_write(HOST_IA32_SYSENTER_CS, v);
		rdmsrl(MSR_IA32_SYSENTER_ESP, v);
		vmcs_write(HOST_IA32_SYSENTER_ESP, v);
		rdmsrl(MSR_IA32_SYSENTER_EIP, v);
		vmcs_write(HOST_IA32_SYSENTER_EIP, v);
	}
}

/*
 * Host fields that may change between entries: CR3 (PCID generation changes
 * on context switch, temporary mms for text poking), CR4 (e.g. TSD, PCE
 * toggled per task).  Written only when they differ from what the VMCS holds.
 */
void dune_vmcs_set_host_per_entry(struct dune_vcpu *vcpu)
{
	unsigned long cr3 = __read_cr3(), cr4 = cr4_read_shadow();

	if (unlikely(cr3 != vcpu->vmcs_host.cr3)) {
		vmcs_write(HOST_CR3, cr3);
		vcpu->vmcs_host.cr3 = cr3;
	}
	if (unlikely(cr4 != vcpu->vmcs_host.cr4)) {
		vmcs_write(HOST_CR4, cr4);
		vcpu->vmcs_host.cr4 = cr4;
	}
}

static u64 fixed_cr0(u64 v)
{
	return (v | dune_caps.cr0_fixed0) & dune_caps.cr0_fixed1;
}

static u64 fixed_cr4(u64 v)
{
	return (v | dune_caps.cr4_fixed0) & dune_caps.cr4_fixed1;
}

/* One-time setup of a fresh VMCS; it must be current on this CPU. */
void dune_vmcs_setup(struct dune_vcpu *vcpu)
{
	u64 cr0, cr4, efer, fs, gs;
	u32 proc2 = dune_caps.proc2_ctl;

	/* --- controls --- */
	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, dune_caps.pin_ctl);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, dune_caps.proc_ctl);
	if (!vcpu->vpid)
		proc2 &= ~SECONDARY_EXEC_ENABLE_VPID;
	vmcs_write(SECONDARY_VM_EXEC_CONTROL, proc2);
	if (vcpu->vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, vcpu->vpid);
	vmcs_write(VM_EXIT_CONTROLS, dune_caps.exit_ctl);
	vmcs_write(VM_ENTRY_CONTROLS, dune_caps.entry_ctl);
	/* Only machine checks are taken away from the guest's IDT. */
	vmcs_write(EXCEPTION_BITMAP, 1u << X86_TRAP_MC);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
	/* perf's MSRs, when it needs them switched (host_state.c) */
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_ADDR, __pa(vcpu->autoload_guest));
	vmcs_write(VM_EXIT_MSR_LOAD_ADDR, __pa(vcpu->autoload_host));
	vcpu->nr_autoload = 0;
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vmcs_write(TSC_OFFSET, 0);
	vmcs_write(MSR_BITMAP, __pa(msr_bitmap));
	vmcs_write(EPT_POINTER, vcpu->vm->eptp);
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
	if (proc2 & SECONDARY_EXEC_XSAVES)
		vmcs_write(XSS_EXIT_BITMAP, 0);

	/* --- host state --- */
	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	/*
	 * RPL/TI must be 0; user DS/ES are restored by hand, FS/GS selectors
	 * and the FS base are the thread's (dune_host_state_load()).
	 */
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_FS_BASE, 0);
	vcpu->vmcs_host.fs_base = 0;
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	rdmsrl(MSR_EFER, efer);
	vmcs_write(HOST_IA32_EFER, efer);
	vmcs_write(HOST_RIP, (unsigned long)dune_vmx_return);
	dune_vmcs_set_host_percpu();
	vmcs_write(HOST_CR3, __read_cr3());
	vmcs_write(HOST_CR4, cr4_read_shadow());
	vcpu->vmcs_host.cr3 = __read_cr3();
	vcpu->vmcs_host.cr4 = cr4_read_shadow();

	/* --- guest state: flat 64-bit CPL0 --- */
	cr0 = fixed_cr0(X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
			X86_CR0_WP | X86_CR0_PG);
	cr0 &= ~(X86_CR0_CD | X86_CR0_NW | X86_CR0_TS | X86_CR0_EM | X86_CR0_AM);
	vmcs_write(GUEST_CR0, cr0);
	vmcs_write(CR0_READ_SHADOW, cr0);
	vmcs_write(CR0_GUEST_HOST_MASK, ~0UL);	/* any change exits */

	cr4 = X86_CR4_PAE | X86_CR4_PSE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	if (boot_cpu_has(X86_FEATURE_XSAVE))
		cr4 |= X86_CR4_OSXSAVE;		/* guest XCR0 == host XCR0 */
	if (boot_cpu_has(X86_FEATURE_FSGSBASE))
		cr4 |= X86_CR4_FSGSBASE;
	cr4 = fixed_cr4(cr4 | X86_CR4_VMXE);
	vmcs_write(GUEST_CR4, cr4);
	vmcs_write(CR4_READ_SHADOW, cr4 & ~X86_CR4_VMXE);
	vmcs_write(CR4_GUEST_HOST_MASK, ~0UL);

	vmcs_write(GUEST_IA32_EFER, efer | EFER_LMA | EFER_LME);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);

	/* Selectors follow the classic libdune GDT (GD_KT 0x10, GD_KD 0x18). */
	vmcs_write(GUEST_CS_SELECTOR, 0x10);
	vmcs_write(GUEST_CS_BASE, 0);
	vmcs_write(GUEST_CS_LIMIT, 0xffffffff);
	vmcs_write(GUEST_CS_AR_BYTES, 0xa09b);	/* P, S, code RX accessed, L, G */
#define DATA_SEG(seg, sel)						\
	do {								\
		vmcs_write(GUEST_##seg##_SELECTOR, sel);		\
		vmcs_write(GUEST_##seg##_BASE, 0);			\
		vmcs_write(GUEST_##seg##_LIMIT, 0xffffffff);		\
		vmcs_write(GUEST_##seg##_AR_BYTES, 0xc093);		\
	} while (0)
	DATA_SEG(SS, 0x18);
	DATA_SEG(DS, 0x18);
	DATA_SEG(ES, 0x18);
	DATA_SEG(FS, 0);
	DATA_SEG(GS, 0);
#undef DATA_SEG
	/* FS/GS bases: the calling thread's user bases. */
	rdmsrl(MSR_FS_BASE, fs);
	rdmsrl(MSR_KERNEL_GS_BASE, gs);	/* user GS base while in the kernel */
	vmcs_write(GUEST_FS_BASE, fs);
	vmcs_write(GUEST_GS_BASE, gs);
	vcpu->synced_fs = fs;
	vcpu->synced_gs = gs;

	vmcs_write(GUEST_TR_SELECTOR, 0);
	vmcs_write(GUEST_TR_BASE, 0);
	vmcs_write(GUEST_TR_LIMIT, 0xff);
	vmcs_write(GUEST_TR_AR_BYTES, 0x8b);	/* present busy 64-bit TSS */
	vmcs_write(GUEST_LDTR_SELECTOR, 0);
	vmcs_write(GUEST_LDTR_BASE, 0);
	vmcs_write(GUEST_LDTR_LIMIT, 0);
	vmcs_write(GUEST_LDTR_AR_BYTES, 0x10000);	/* unusable */
	vmcs_write(GUEST_GDTR_BASE, 0);
	vmcs_write(GUEST_GDTR_LIMIT, 0);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);

	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(GUEST_RFLAGS, X86_EFLAGS_FIXED);
}
