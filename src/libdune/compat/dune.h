/*
 * compat/dune.h - the original libdune's API (project-dune/dune,
 * libdune/dune.h) on top of dunelab's libdune, for programs written
 * against it.  Such a program keeps `#include "libdune/dune.h"` or
 * `#include <dune.h>` and is built with this directory first on the
 * include path:
 *
 *     cc -I<libdune>/compat ...            (source tree)
 *     cc $(pkg-config --cflags libdune-compat) ...   (installed)
 *
 * and linked with libdune.a as usual.  Programs written for dunelab's own
 * API include <dune/dune.h> / "dune.h" from the normal include directory
 * and never see this file: nothing here changes the meaning of the native
 * API.  Every original item and what became of it (same, mapped, opt-in,
 * absent and why) is listed in docs/libdune-compat.md.
 *
 * Opt-ins (define before including this header):
 *   DUNE_COMPAT_RING3_ALL_MEMORY  dune_jump_to_user() first gives ring 3
 *       the whole mirror of the process (PTE_U on every present page), as
 *       the original did, so ring-3 code may be the program's own functions.
 *       This removes dunelab's ring-0/ring-3 isolation for the run.
 */
#ifndef LIBDUNE_COMPAT_DUNE_H
#define LIBDUNE_COMPAT_DUNE_H

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/queue.h>

#include "../dune.h"
#include "dune_procmap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- mmu */

/* The original's PTE_ADDR is a function-like macro (ours: the mask). */
#undef PTE_ADDR
#undef PTE_FLAGS
#undef PTE_ADDR_OF
#define DUNE_COMPAT_PTE_ADDR_MASK	0x000FFFFFFFFFF000ULL
#define PTE_ADDR(pte)	((physaddr_t)(pte) & DUNE_COMPAT_PTE_ADDR_MASK)
#define PTE_FLAGS(pte)	((physaddr_t)(pte) & ~DUNE_COMPAT_PTE_ADDR_MASK)
#define PTE_ADDR_OF(p)	PTE_ADDR(p)

#ifndef UINT64
#define UINT64(x)	((uint64_t)x##ULL)
#endif
#ifndef CAST64
#define CAST64(x)	((uint64_t)(x))
#endif
#ifndef ONE
#define ONE		UINT64(1)
#endif

#define PDXMASK		((1 << NPTBITS) - 1)
#define PDSHIFT(n)	(12 + NPTBITS * (n))
#define PPN(la)		((la) >> PGSHIFT)
#define PGMASK		(PGSIZE - 1)
#define PGOFF(la)	(((uintptr_t)(la)) & PGMASK)
#define PGADDR(la)	(((uintptr_t)(la)) & ~CAST64(PGMASK))
#define BIG_PGMASK	(BIG_PGSIZE - 1)
#define BIG_PGOFF(la)	(((uintptr_t)(la)) & BIG_PGMASK)
#define BIG_PGADDR(la)	(((uintptr_t)(la)) & ~CAST64(BIG_PGMASK))

#define PTE_PAT		0x0080		/* in a 4 KiB PTE */
#define PTE_PAT_PS	0x1000		/* in a 2 MiB PDE */

/* control registers, flags, EFER (the original's spellings) */
#define CR0_PE		0x1
#define CR0_MP		0x2
#define CR0_EM		0x4
#define CR0_TS		0x8
#define CR0_ET		0x10
#define CR0_NE		0x20
#define CR0_WP		0x10000
#define CR0_AM		0x40000
#define CR0_NW		0x20000000
#define CR0_CD		0x40000000
#define CR0_PG		0x80000000
#define CR3_PWT		0x8
#define CR3_PCD		0x10
#define CR4_VME		0x1
#define CR4_PVI		0x2
#define CR4_TSD		0x4
#define CR4_DE		0x8
#define CR4_PSE		0x10
#define CR4_PAE		0x20
#define CR4_MCE		0x40
#define CR4_PGE		0x80
#define CR4_PCE		0x100
#define CR4_OSFXSR	0x200
#define CR4_OSX		0x400
#ifndef EFER
#define EFER		MSR_EFER
#endif
#define EFER_FFXSR	0x4000

#define FL_CF		0x00000001
#define FL_PF		0x00000004
#define FL_AF		0x00000010
#define FL_ZF		0x00000040
#define FL_SF		0x00000080
#define FL_TF		0x00000100
#define FL_IF		0x00000200
#define FL_DF		0x00000400
#define FL_OF		0x00000800
#define FL_IOPL_MASK	0x00003000
#define FL_IOPL_0	0x00000000
#define FL_IOPL_1	0x00001000
#define FL_IOPL_2	0x00002000
#define FL_IOPL_3	0x00003000
#define FL_NT		0x00004000
#define FL_RF		0x00010000
#define FL_VM		0x00020000
#define FL_AC		0x00040000
#define FL_VIF		0x00080000
#define FL_VIP		0x00100000
#define FL_ID		0x00200000

/* ------------------------------------------------------------ cpu-x86 */

/* x86 trap numbers (the original's names; ours are T_DE, T_PF, ...) */
#define T_DIVIDE	T_DE
#define T_DEBUG		T_DB
#define T_BRKPT		T_BP
#define T_OFLOW		T_OF
#define T_BOUND		T_BR
#define T_ILLOP		T_UD
#define T_DEVICE	T_NM
#define T_DBLFLT	T_DF
#define T_TSS		10
#define T_SEGNP		T_NP
#define T_STACK		T_SS
#define T_GPFLT		T_GP
#define T_PGFLT		T_PF
#define T_FPERR		T_MF
#define T_ALIGN		T_AC
#define T_MCHK		T_MC
#define T_SIMDERR	T_XM
/* T_SYSCALL: the original's software vector 48.  dunelab's syscalls arrive
 * through SYSCALL with trapno DUNE_TRAPNO_SYSCALL, never on a vector. */
#define T_SYSCALL	48

typedef uint64_t u64;

static inline void native_write_msr(unsigned int msr, unsigned low, unsigned high)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"(low), "d"(high) : "memory");
}

static inline unsigned long long native_read_msr(unsigned int msr)
{
	unsigned low, high;

	__asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
	return low | ((u64)high << 32);
}

#define wrmsrl(msr, val)	wrmsr((msr), (uint64_t)(val))
#define rdmsrl(msr, val)	((val) = rdmsr((msr)))

#define IDT_ENTRIES	256

/* ------------------------------------------------------------ entry */

/*
 * The original needed dune_enter() in every new thread and forked child.
 * dunelab's threads and fork children created in Dune mode are in Dune mode
 * already: there, dune_enter() just returns 0.  A thread created on the host
 * enters as usual.
 */
int dune_compat_enter(void);
#define dune_enter() dune_compat_enter()

/* ------------------------------------------------------------ utilities */

static inline unsigned long dune_get_ticks(void)
{
	unsigned int a, d;

	__asm__ volatile("rdtsc" : "=a"(a), "=d"(d));
	return ((unsigned long)a) | (((unsigned long)d) << 32);
}

typedef void (*sighandler_t)(int);

/* mmap() that is usable from Dune mode and mapped in the guest page table
 * (with dune_init(true) libdune mirrors every mmap itself). */
void *dune_compat_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
#define dune_mmap dune_compat_mmap

/* The original routed a signal to a handler in Dune mode.  dunelab runs the
 * program's own signal handlers in Dune mode already: this is signal(). */
sighandler_t dune_compat_signal(int sig, sighandler_t cb);
#define dune_signal dune_compat_signal

#ifndef assert
#define assert(expr)								\
	do {									\
		if (!(expr)) {							\
			dune_printf("ASSERT(" #expr ") at %s:%d in function %s\n", \
				    __FILE__, __LINE__, __func__);		\
			dune_die();						\
		}								\
	} while (0)
#endif

/* --------------------------------------------------------- trap frames */

/*
 * struct dune_tf: dunelab's frame has every field name of the original's
 * (rdi ... r15, rax, err, rip, cs, rflags, rsp, ss), in a different order,
 * with err and cs widened to 64 bits and a trapno field added.  Programs
 * that use field names, ARGn() and sizeof work unchanged; code that relied
 * on the original's byte offsets or its padding fields (pad1..pad3) does not.
 *
 * ARG3: the original's syscall stub copied r10 into the rcx slot, so its
 * ARG3 read rcx.  dunelab keeps SYSCALL's registers as they were (rcx = the
 * return rip); the fourth argument is r10, and ARG3 (from dune.h) names it.
 */

/* Pop a trap frame: resume the context in *tf (CPL0 only; cs/ss are set to
 * ring 0's).  Does not return. */
void dune_pop_trap_frame(struct dune_tf *tf) __attribute__((noreturn));

#ifdef DUNE_COMPAT_RING3_ALL_MEMORY
int dune_compat_jump_to_user_all(struct dune_tf *tf);
#define dune_jump_to_user(tf) dune_compat_jump_to_user_all(tf)
#endif

/* ---------------------------------------------------------------- pages */

#define PERM_BIG_1GB	0x0200	/* mapped to PERM_BIG: dunelab maps 2 MiB pages at most */
#define PERM_SCODE	(PERM_R | PERM_X)
#define PERM_STEXT	(PERM_R | PERM_W)
#define PERM_SSTACK	PERM_STEXT
#define PERM_UCODE	(PERM_R | PERM_U | PERM_X)
#define PERM_UTEXT	(PERM_R | PERM_U | PERM_W)
#define PERM_USTACK	PERM_UTEXT

#define CREATE_BIG	2	/* not supported: dune_vm_lookup returns -EINVAL */
#define CREATE_BIG_1GB	3

#define VA_START	((void *)0)
#define VA_END		((void *)-1)

#define CR3_NOFLUSH	(1UL << 63)

static inline void load_cr3(unsigned long cr3)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

typedef dune_page_walk_cb page_walk_cb;

/* Guest-physical addresses of the host's mmap and stack regions and the
 * guest-physical limit (struct dune_layout; valid after dune_init()). */
uintptr_t dune_compat_phys_limit(void);
uintptr_t dune_compat_mmap_base(void);
uintptr_t dune_compat_stack_base(void);
#define phys_limit	(dune_compat_phys_limit())
#define mmap_base	(dune_compat_mmap_base())
#define stack_base	(dune_compat_stack_base())

static inline uintptr_t dune_mmap_addr_to_pa(void *ptr)
{
	return (uintptr_t)ptr - mmap_base + phys_limit - GPA_STACK_SIZE - GPA_MAP_SIZE;
}

static inline uintptr_t dune_stack_addr_to_pa(void *ptr)
{
	return (uintptr_t)ptr - stack_base + phys_limit - GPA_STACK_SIZE;
}

/* The original's signatures where dunelab's differ. */
int dune_compat_vm_map_phys(ptent_t *root, void *va, size_t len, void *pa, int perm);
#define dune_vm_map_phys dune_compat_vm_map_phys
int dune_compat_vm_map_pages(ptent_t *root, void *va, size_t len, int perm);
#define dune_vm_map_pages dune_compat_vm_map_pages
int dune_compat_vm_lookup_big(void);	/* the refusal: a message and -EINVAL */
static inline int dune_compat_vm_lookup(ptent_t *root, void *va, int create, ptent_t **pte_out)
{
	if (create >= CREATE_BIG)
		return dune_compat_vm_lookup_big();
	return dune_vm_lookup(root, va, create, pte_out);
}
#define dune_vm_lookup dune_compat_vm_lookup
int dune_compat_vm_mprotect(ptent_t *root, void *va, size_t len, int perm);
#define dune_vm_mprotect dune_compat_vm_mprotect
struct dune_page *dune_compat_vm_lookup_page(ptent_t *root, void *va);
#define dune_vm_lookup_page dune_compat_vm_lookup_page

#ifdef __cplusplus
}
#endif

#endif /* LIBDUNE_COMPAT_DUNE_H */
