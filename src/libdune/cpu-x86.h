/*
 * cpu-x86.h - small inline wrappers for privileged x86-64 instructions.
 * Privileged ones (CRs, MSRs, lgdt, invlpg...) only work inside Dune
 * (VMX non-root ring 0); on the host they raise SIGSEGV.
 */
#ifndef LIBDUNE_CPU_X86_H
#define LIBDUNE_CPU_X86_H

#include <stdint.h>

#define X86_CR0_PE	(1UL << 0)
#define X86_CR0_MP	(1UL << 1)
#define X86_CR0_EM	(1UL << 2)
#define X86_CR0_TS	(1UL << 3)
#define X86_CR0_NE	(1UL << 5)
#define X86_CR0_WP	(1UL << 16)
#define X86_CR0_PG	(1UL << 31)

#define X86_CR4_PAE		(1UL << 5)
#define X86_CR4_PGE		(1UL << 7)
#define X86_CR4_OSFXSR		(1UL << 9)
#define X86_CR4_OSXMMEXCPT	(1UL << 10)
#define X86_CR4_VMXE		(1UL << 13)
#define X86_CR4_FSGSBASE	(1UL << 16)
#define X86_CR4_PCIDE		(1UL << 17)
#define X86_CR4_OSXSAVE		(1UL << 18)
#define X86_CR4_SMEP		(1UL << 20)
#define X86_CR4_SMAP		(1UL << 21)

#define X86_EFLAGS_CF	0x00000001UL
#define X86_EFLAGS_TF	0x00000100UL
#define X86_EFLAGS_IF	0x00000200UL
#define X86_EFLAGS_DF	0x00000400UL
#define X86_EFLAGS_NT	0x00004000UL
#define X86_EFLAGS_AC	0x00040000UL
#define X86_EFLAGS_FIXED 0x00000002UL	/* bit 1 is always set */

#define MSR_EFER		0xC0000080
#define MSR_STAR		0xC0000081
#define MSR_LSTAR		0xC0000082
#define MSR_CSTAR		0xC0000083
#define MSR_SFMASK		0xC0000084
#define MSR_FS_BASE		0xC0000100
#define MSR_GS_BASE		0xC0000101
#define MSR_KERNEL_GS_BASE	0xC0000102

#define EFER_SCE	(1UL << 0)
#define EFER_LME	(1UL << 8)
#define EFER_LMA	(1UL << 10)
#define EFER_NXE	(1UL << 11)

/* Page-fault error code bits. */
#define FEC_P		0x01	/* protection violation (page was present) */
#define FEC_W		0x02	/* write access */
#define FEC_U		0x04	/* CPL3 access */
#define FEC_RSV		0x08	/* reserved bit set in a paging entry */
#define FEC_I		0x10	/* instruction fetch */

/* Exception vectors. */
#define T_DE	0	/* divide error */
#define T_DB	1	/* debug */
#define T_NMI	2
#define T_BP	3	/* int3 */
#define T_OF	4
#define T_BR	5
#define T_UD	6	/* invalid opcode */
#define T_NM	7
#define T_DF	8	/* double fault */
#define T_TS	10
#define T_NP	11
#define T_SS	12
#define T_GP	13
#define T_PF	14
#define T_MF	16
#define T_AC	17
#define T_MC	18
#define T_XM	19
#define T_VE	20
#define T_CP	21

static inline uint64_t read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline uint16_t read_cs(void)
{
	uint16_t v;
	__asm__ volatile("mov %%cs, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}

static inline void write_rflags(uint64_t v)
{
	__asm__ volatile("pushq %0; popfq" : : "r"(v) : "memory", "cc");
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void invlpg(const void *va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* Full non-global TLB flush (libdune never sets PTE_G). */
static inline void flush_tlb(void)
{
	write_cr3(read_cr3());
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

struct __attribute__((packed)) x86_dtr {
	uint16_t limit;
	uint64_t base;
};

static inline void lidt(const struct x86_dtr *d) { __asm__ volatile("lidt %0" : : "m"(*d)); }
static inline void lgdt(const struct x86_dtr *d) { __asm__ volatile("lgdt %0" : : "m"(*d)); }
static inline void sidt(struct x86_dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
static inline void sgdt(struct x86_dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d)); }

static inline uint16_t read_tr(void)
{
	uint16_t v;
	__asm__ volatile("str %0" : "=r"(v));
	return v;
}

/* Current privilege level (0 inside Dune, 3 on the host). */
static inline int cpl(void)
{
	return read_cs() & 3;
}

static inline uint64_t rdfsbase(void)
{
	uint64_t v;
	__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}

static inline void wrfsbase(uint64_t v)
{
	__asm__ volatile("wrfsbase %0" : : "r"(v) : "memory");
}

static inline uint64_t rdgsbase(void)
{
	uint64_t v;
	__asm__ volatile("rdgsbase %0" : "=r"(v));
	return v;
}

static inline void wrgsbase(uint64_t v)
{
	__asm__ volatile("wrgsbase %0" : : "r"(v) : "memory");
}

/* FS base of the running context, inside Dune (CPL0). */
static inline uint64_t dune_get_user_fs(void)
{
	if (read_cr4() & X86_CR4_FSGSBASE)
		return rdfsbase();
	return rdmsr(MSR_FS_BASE);
}

/* Set the FS base inside Dune (CPL0).  Does not tell the host: see arch_prctl
 * handling in the README for keeping both in sync. */
static inline void dune_set_user_fs(uint64_t v)
{
	if (read_cr4() & X86_CR4_FSGSBASE)
		wrfsbase(v);
	else
		wrmsr(MSR_FS_BASE, v);
}

#endif /* LIBDUNE_CPU_X86_H */
