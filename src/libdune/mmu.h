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

#define PTE_ADDR	0x000FFFFFFFFFF000ULL	/* frame of a 4 KiB PTE / table pointer */
#define PTE_BIG_ADDR	0x000FFFFFFFE00000ULL	/* frame of a 2 MiB PDE */
#define PTE_FLAGS(p)	((p) & ~PTE_ADDR)

#define PTE_ADDR_OF(p)	((physaddr_t)((p) & PTE_ADDR))

/* Highest canonical user-half address + 1 with 4-level paging. */
#define VA_USER_LIMIT	(1ULL << 47)

#endif /* LIBDUNE_MMU_H */
