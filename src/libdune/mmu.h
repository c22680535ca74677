/*
 * mmu.h - x86-64 4-level page-table entry format used by libdune's guest
 * page tables.  Architectural facts only (Intel SDM vol. 3, ch. 4.5).
 */
#ifndef LIBDUNE_MMU_H
#define LIBDUNE_MMU_H

#include <stdint.h>

typedef uint64_t ptent_t;
typedef uint64_t physaddr_t;

#define PGSHIFT		12
#define PGSIZE		(1UL << PGSHIFT)		/* 4 KiB */
#define BIG_PGSHIFT	21
#define BIG_PGSIZE	(1UL << BIG_PGSHIFT)		/* 2 MiB */
#define HUGE_PGSHIFT	30
#define HUGE_PGSIZE	(1UL << HUGE_PGSHIFT)		/* 1 GiB */

#define NPTBITS		9
#define NPTENTRIES	(1 << NPTBITS)

/* Index into the page table at level lvl (0 = PT, 1 = PD, 2 = PDPT, 3 = PML4). */
#define PDX(lvl, va)	(((uint64_t)(va) >> (PGSHIFT + (lvl) * NPTBITS)) & (NPTENTRIES - 1))

#define PTE_P		0x001ULL	/* present */
#define PTE_W		0x002ULL	/* writable */
#define PTE_U		0x004ULL	/* user (CPL3) accessible */
#define PTE_PWT		0x008ULL	/* write-through */
#define PTE_PCD		0x010ULL	/* cache disable */
#define PTE_A		0x020ULL	/* accessed */
#define PTE_D		0x040ULL	/* dirty */
#define PTE_PS		0x080ULL	/* page size (2 MiB in a PDE, 1 GiB in a PDPTE) */
#define PTE_G		0x100ULL	/* global */
#define PTE_AVAIL	0xE00ULL	/* bits 9-11: free for software */
#define PTE_NX		(1ULL << 63)	/* no-execute (needs EFER.NXE) */

/*
 * Software bits (ignored by the MMU in leaf entries; bits 59-62 are left
 * alone because they become protection keys when CR4.PKE is set).
 */
#define PTE_COW		0x200ULL	/* bit 9: copy-on-write (page is read-only until written) */
#define PTE_USR1	0x400ULL	/* bit 10: free for the application */
#define PTE_USR2	0x800ULL	/* bit 11: free for the application */
#define PTE_USR3	(1ULL << 54)	/* free for the application */
#define PTE_PAGE	(1ULL << 55)	/* the PTE holds a reference to a dune_page_alloc() page */

#define PTE_ADDR	0x000FFFFFFFFFF000ULL	/* frame of a 4 KiB PTE / table pointer */
#define PTE_BIG_ADDR	0x000FFFFFFFE00000ULL	/* frame of a 2 MiB PDE */
#define PTE_FLAGS(p)	((p) & ~PTE_ADDR)

#define PTE_ADDR_OF(p)	((physaddr_t)((p) & PTE_ADDR))

/* Highest canonical user-half address + 1 with 4-level paging. */
#define VA_USER_LIMIT	(1ULL << 47)

/*
 * TLB control.  Privileged: only valid in Dune mode (CPL0 in the guest).
 */
#define DUNE_CR4_PCIDE	(1UL << 17)

/* Invalidate the translation of one virtual address (all PCIDs). */
static inline void dune_flush_tlb_one(uintptr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/*
 * Invalidate all non-global translations.  Without PCIDs a CR3 reload does
 * it.  With CR4.PCIDE a CR3 write (bit 63 clear) only flushes the current
 * PCID, so use INVPCID type 2 (all contexts) when the CPU has it, else
 * toggle CR4.PGE, which flushes every PCID (and global entries) too.
 */
static inline void dune_flush_tlb(void)
{
	uint64_t cr3, cr4;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	if (cr4 & DUNE_CR4_PCIDE) {
		uint32_t a = 7, b, c = 0, d;

		__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
		if (b & (1u << 10)) {	/* CPUID.(7,0):EBX.INVPCID */
			struct { uint64_t pcid, addr; } desc = { 0, 0 };

			__asm__ volatile("invpcid %0, %1" : : "m"(desc), "r"(2UL) : "memory");
		} else {
			__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 ^ (1UL << 7)) : "memory");
			__asm__ volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
		}
		return;
	}
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

#endif /* LIBDUNE_MMU_H */
