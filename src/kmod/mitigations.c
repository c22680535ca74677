// SPDX-License-Identifier: GPL-2.0
/*
 * mitigations.c - speculative-execution mitigations around VM entry and exit,
 * chosen from the same kernel state kvm_intel uses on this kernel.
 *
 * In vmx_entry.S (see there): VERW right before VMLAUNCH/VMRESUME when the
 * kernel clears CPU buffers (MDS, TAA, MMIO, RFDS: X86_FEATURE_CLEAR_CPU_BUF);
 * after the exit, before the first RET: legacy IBRS rewritten
 * (X86_FEATURE_KERNEL_IBRS), the RSB filled (X86_FEATURE_RSB_VMEXIT[_LITE]),
 * the branch history cleared (X86_FEATURE_CLEAR_BHB_LOOP_ON_VMEXIT) and an
 * LFENCE.  The guest cannot change SPEC_CTRL (its MSR accesses exit), so it
 * runs with the host's current value and nothing is saved or restored.
 *
 * Here: the L1D flush before entry on CPUs with L1TF (as the kernel's
 * l1tf= mitigation asks: never, on every entry, or - the default, "cond" -
 * when the host may have pulled secrets into L1D since the last entry: a
 * return to user space, a slow exit, an interrupt), and the VMSCAPE IBPB
 * before the next return to user space (the host loop in libdune is the
 * userspace that a guest's branch predictions could target).
 *
 * Guests never reach MMIO (ept.c maps RAM only), so KVM's "MMIO stale data
 * with an assigned device" VERW case does not arise.
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/kernel.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <asm/cpufeature.h>
#include <asm/hardirq.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/processor.h>

#include "dune_internal.h"

enum l1d_mode { L1D_NEVER, L1D_COND, L1D_ALWAYS };
static enum l1d_mode l1d_mode;
#define L1D_FLUSH_ORDER 4		/* 64 KiB: twice the L1D of affected CPUs */
static void *l1d_flush_pages;		/* software flush without FLUSH_CMD */

int dune_mitigations_init(void)
{
	char line[160] = "";
	int i;

	l1d_mode = L1D_NEVER;
	if (boot_cpu_has_bug(X86_BUG_L1TF)) {
		u64 caps = 0;

		if (boot_cpu_has(X86_FEATURE_ARCH_CAPABILITIES))
			rdmsrl(MSR_IA32_ARCH_CAPABILITIES, caps);
		if (!(caps & ARCH_CAP_SKIP_VMENTRY_L1DFLUSH)) {
			switch (l1tf_mitigation) {
			case L1TF_MITIGATION_OFF:
				l1d_mode = L1D_NEVER;
				break;
			case L1TF_MITIGATION_FULL:
			case L1TF_MITIGATION_FULL_FORCE:
				l1d_mode = L1D_ALWAYS;
				break;
			default:
				l1d_mode = L1D_COND;
				break;
			}
		}
	}
	if (l1d_mode != L1D_NEVER && !boot_cpu_has(X86_FEATURE_FLUSH_L1D)) {
		struct page *pg = alloc_pages(GFP_KERNEL, L1D_FLUSH_ORDER);

		if (!pg)
			return -ENOMEM;
		l1d_flush_pages = page_address(pg);
		/* Distinct contents per page, so nothing can merge them. */
		for (i = 0; i < 1 << L1D_FLUSH_ORDER; i++)
			memset(l1d_flush_pages + i * PAGE_SIZE, i + 1, PAGE_SIZE);
	}

	if (cpu_feature_enabled(X86_FEATURE_CLEAR_CPU_BUF))
		strlcat(line, " verw", sizeof(line));
	if (l1d_mode != L1D_NEVER)
		strlcat(line, l1d_mode == L1D_ALWAYS ? " l1d-flush-always" : " l1d-flush-cond",
			sizeof(line));
	if (l1d_mode != L1D_NEVER)
		strlcat(line, l1d_flush_pages ? "(sw)" : "(msr)", sizeof(line));
	if (cpu_feature_enabled(X86_FEATURE_KERNEL_IBRS))
		strlcat(line, " ibrs", sizeof(line));
	if (cpu_feature_enabled(X86_FEATURE_RSB_VMEXIT))
		strlcat(line, " rsb-fill", sizeof(line));
	else if (cpu_feature_enabled(X86_FEATURE_RSB_VMEXIT_LITE))
		strlcat(line, " rsb-fill-lite", sizeof(line));
	if (cpu_feature_enabled(X86_FEATURE_CLEAR_BHB_LOOP_ON_VMEXIT))
		strlcat(line, " bhb-clear", sizeof(line));
	if (cpu_feature_enabled(X86_FEATURE_IBPB_EXIT_TO_USER))
		strlcat(line, " ibpb-exit-to-user", sizeof(line));
	pr_info("VM entry/exit mitigations:%s\n", line[0] ? line : " none needed");
	return 0;
}

void dune_mitigations_exit(void)
{
	if (l1d_flush_pages)
		free_pages((unsigned long)l1d_flush_pages, L1D_FLUSH_ORDER);
	l1d_flush_pages = NULL;
}

/* Right before the entry, interrupts off. */
void dune_l1d_flush(struct dune_vcpu *vcpu)
{
	int size = PAGE_SIZE << L1D_FLUSH_ORDER;

	if (l1d_mode == L1D_NEVER)
		return;
	if (l1d_mode == L1D_COND) {
		/* Interrupt handlers set the per-CPU flag (the kernel does, for KVM). */
		bool flush = vcpu->l1d_flush || this_cpu_read(irq_stat.kvm_cpu_l1tf_flush_l1d);

		vcpu->l1d_flush = false;
		this_cpu_write(irq_stat.kvm_cpu_l1tf_flush_l1d, 0);
		if (!flush)
			return;
	}
	if (!l1d_flush_pages) {
		wrmsrl(MSR_IA32_FLUSH_CMD, L1D_FLUSH);
		return;
	}
	/* Touch every page (TLB), serialise, then read the buffer line by line. */
	asm volatile("xorl %%eax, %%eax\n"
		     "1:\tmovzbl (%[pages], %%rax), %%ecx\n\t"
		     "addl $4096, %%eax\n\t"
		     "cmpl %%eax, %[size]\n\t"
		     "jne 1b\n\t"
		     "xorl %%eax, %%eax\n\t"
		     "cpuid\n\t"
		     "xorl %%eax, %%eax\n"
		     "2:\tmovzbl (%[pages], %%rax), %%ecx\n\t"
		     "addl $64, %%eax\n\t"
		     "cmpl %%eax, %[size]\n\t"
		     "jne 2b\n\t"
		     "lfence\n"
		     : : [pages] "r"(l1d_flush_pages), [size] "r"(size)
		     : "eax", "ebx", "ecx", "edx", "memory");
}

/* After every exit, interrupts still off. */
void dune_mitigations_after_exit(void)
{
	/* VMSCAPE: no branch prediction trained by the guest reaches user space. */
	if (cpu_feature_enabled(X86_FEATURE_IBPB_EXIT_TO_USER))
		this_cpu_write(x86_ibpb_exit_to_user, true);
}
