/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmx_ops.h - thin wrappers around the VMX instructions.
 *
 * VMfail (CF or ZF set) is reported through the return value; callers that
 * cannot reasonably fail (VMREAD/VMWRITE of a valid field on the current
 * VMCS) only log, so a bug shows up in dmesg instead of as an oops.
 */
#ifndef DUNE_VMX_OPS_H
#define DUNE_VMX_OPS_H

#include <linux/types.h>
#include <linux/printk.h>
#include <asm/vmx.h>
#include <asm/asm.h>

static __always_inline int dune_vmxon(u64 pa)
{
	bool fail;

	asm volatile("vmxon %1\n\t"
		     "setbe %0"
		     : "=qm"(fail) : "m"(pa) : "cc", "memory");
	return fail ? -EIO : 0;
}

/*
 * Leave VMX operation.  A fault (#UD: not in VMX operation, e.g. another
 * emergency path got here first) is ignored: the caller clears CR4.VMXE
 * either way, as the kernel's own cpu_vmxoff() does.
 */
static __always_inline void dune_vmxoff(void)
{
	asm volatile("1: vmxoff\n\t"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     ::: "cc", "memory");
}

static __always_inline int dune_vmclear(u64 pa)
{
	bool fail;

	asm volatile("vmclear %1\n\t"
		     "setbe %0"
		     : "=qm"(fail) : "m"(pa) : "cc", "memory");
	return fail ? -EIO : 0;
}

static __always_inline int dune_vmptrld(u64 pa)
{
	bool fail;

	asm volatile("vmptrld %1\n\t"
		     "setbe %0"
		     : "=qm"(fail) : "m"(pa) : "cc", "memory");
	return fail ? -EIO : 0;
}

static __always_inline unsigned long vmcs_read(unsigned long field)
{
	unsigned long val = 0;
	bool fail;

	asm volatile("vmread %2, %1\n\t"
		     "setbe %0"
		     : "=qm"(fail), "=rm"(val) : "r"(field) : "cc");
	if (unlikely(fail))
		pr_err_ratelimited("dune: vmread(%#lx) failed\n", field);
	return val;
}

static __always_inline void vmcs_write(unsigned long field, unsigned long val)
{
	bool fail;

	asm volatile("vmwrite %2, %1\n\t"
		     "setbe %0"
		     : "=qm"(fail) : "r"(field), "rm"(val) : "cc");
	if (unlikely(fail))
		pr_err_ratelimited("dune: vmwrite(%#lx, %#lx) failed\n",
				   field, val);
}

static __always_inline void vmcs_set_bits(unsigned long field, u32 bits)
{
	vmcs_write(field, vmcs_read(field) | bits);
}

static __always_inline void vmcs_clear_bits(unsigned long field, u32 bits)
{
	vmcs_write(field, vmcs_read(field) & ~bits);
}

struct dune_inv_desc {
	u64 a, b;
};

static __always_inline int dune_invept(unsigned long type, u64 eptp)
{
	struct dune_inv_desc d = { eptp, 0 };
	bool fail;

	asm volatile("invept %1, %2\n\t"
		     "setbe %0"
		     : "=qm"(fail) : "m"(d), "r"(type) : "cc", "memory");
	return fail ? -EIO : 0;
}

static __always_inline int dune_invvpid(unsigned long type, u16 vpid, u64 gva)
{
	struct dune_inv_desc d = { vpid, gva };
	bool fail;

	asm volatile("invvpid %1, %2\n\t"
		     "setbe %0"
		     : "=qm"(fail) : "m"(d), "r"(type) : "cc", "memory");
	return fail ? -EIO : 0;
}

#endif /* DUNE_VMX_OPS_H */
