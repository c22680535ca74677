/*
 * dune.h - libdune public API (dunelab).
 *
 * A process calls dune_init() once and dune_enter() in each thread that
 * should run in Dune mode (VMX non-root ring 0).  Threads created with
 * pthread_create() inside Dune are in Dune automatically; fork() inside Dune
 * gives a child that is also in Dune.  See README.md for the design.
 */
#ifndef LIBDUNE_DUNE_H
#define LIBDUNE_DUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "uapi/dune.h"	/* the /dev/dune ABI (src/kmod/uapi/dune.h; installed as dune/uapi/dune.h) */
#include "mmu.h"
#include "cpu-x86.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Trap frame built on interrupts, exceptions and syscalls.  The last five
 * words are the hardware interrupt frame (IRETQ order).  For syscalls,
 * trapno == DUNE_TRAPNO_SYSCALL, rip/rflags are the user's return point and
 * flags (also in rcx/r11, as the SYSCALL instruction left them).
 */
struct dune_tf {
	uint64_t rax;
	uint64_t rbx;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t rsi;
	uint64_t rdi;
	uint64_t rbp;
	uint64_t r8;
	uint64_t r9;
	uint64_t r10;
	uint64_t r11;
	uint64_t r12;
	uint64_t r13;
	uint64_t r14;
	uint64_t r15;
	uint64_t trapno;	/* vector number, or DUNE_TRAPNO_SYSCALL */
	uint64_t err;		/* exception error code, 0 if none */
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

#define DUNE_TRAPNO_SYSCALL	0x100

/* Syscall-style argument accessors. */
#define ARG0(tf)	((tf)->rdi)
#define ARG1(tf)	((tf)->rsi)
#define ARG2(tf)	((tf)->rdx)
#define ARG3(tf)	((tf)->r10)
#define ARG4(tf)	((tf)->r8)
#define ARG5(tf)	((tf)->r9)

/* GDT selectors (Linux-compatible layout, so SYSCALL/SYSRET work). */
#define GD_KT		0x10	/* kernel code, 64-bit */
#define GD_KD		0x18	/* kernel data */
#define GD_UT32		0x20	/* user code, 32-bit (STAR[63:48] base) */
#define GD_UD		0x28	/* user data */
#define GD_UT		0x30	/* user code, 64-bit */
#define GD_TSS		0x40	/* 64-bit TSS (two slots) */
#define GD_ENTRIES	10

/* Exit statuses libdune uses when it has to end the process. */
#define DUNE_EXIT_FATAL_BASE	128	/* unhandled exception: 128 + equivalent signal */
#define DUNE_EXIT_VMEXIT	125	/* EPT violation / unhandled VM exit / no entry */
#define DUNE_EXIT_DIE		126	/* dune_die() */

typedef void (*dune_intr_cb)(struct dune_tf *tf);
typedef void (*dune_pgflt_cb)(uintptr_t addr, uint64_t fec, struct dune_tf *tf);
typedef void (*dune_syscall_cb)(struct dune_tf *tf);

/*
 * Open /dev/dune, read the layout, build the guest page table from
 * /proc/self/maps, the IDT, and the signal bookkeeping.  Call once.
 * The table mirrors the process for ring 0 only (no PTE_U): ring-3 code
 * (dune_jump_to_user) reaches only memory it mapped itself or that was
 * given to it with dune_vm_set_user().
 * map_full == true: libdune keeps the guest page table in sync with the host
 * address space by itself (mmap/munmap/mprotect/mremap/brk are mirrored and
 * not-present faults on valid host memory are mapped on demand).
 * map_full == false: only what exists at dune_init() is mapped; later memory
 * is the application's business (dune_vm_* and a page-fault handler).
 * Returns 0 or a negative errno.
 */
int dune_init(bool map_full);

/* Enter Dune mode in the calling thread.  Returns 0 (now in ring 0) or a negative errno. */
int dune_enter(void);

/* dune_init(true) if not done yet, then dune_enter(). */
int dune_init_and_enter(void);

/* Handlers run in Dune mode (ring 0) on the interrupted stack, below its red zone. */
int dune_register_intr_handler(int vector, dune_intr_cb cb);
/* Same as dune_register_intr_handler(DUNE_SIGNAL_INTR_BASE + signum, cb) (signum 1..55). */
int dune_register_signal_handler(int signum, dune_intr_cb cb);
void dune_register_pgflt_handler(dune_pgflt_cb cb);
/* Called for every SYSCALL executed in Dune mode (except from inside the
 * handler itself, which passes through).  Set tf->rax to the result. */
void dune_register_syscall_handler(dune_syscall_cb cb);

/* Run the syscall described by tf (rax = nr, args in rdi..r9) on the host; result in tf->rax. */
void dune_passthrough_syscall(struct dune_tf *tf);

/* Raw syscall that works in any context (VMCALL in Dune mode, SYSCALL on the host). */
long dune_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/*
 * dune.ko's event counters for this process's /dev/dune file (struct
 * dune_stats in uapi/dune.h): VM exits by basic exit reason, entries, ioctl
 * returns, host MSR writes, EPT violations, INVEPTs, injected interrupts...,
 * summed over every vCPU the file ever had (threads that exited included).
 * Works after dune_init(), in Dune mode (where the read is itself one VMCALL
 * round trip, counted like any other: take deltas between two reads and
 * measure that constant) and on the host.  A fork child has its own file,
 * so its counters start at zero.  0, -ENODEV before dune_init(), -EFAULT.
 */
int dune_get_stats(struct dune_stats *st);

/* Linux's name of VMX basic exit reason `reason` ("VMCALL", "EPT_VIOLATION",
 * "EXTERNAL_INTERRUPT", ...), or NULL for a number Linux does not name. */
const char *dune_exit_reason_name(unsigned int reason);

/* printf to stderr that is safe in any context (trap handlers included). */
void dune_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dune_dump_trap_frame(const struct dune_tf *tf);
/* Print a message and end the process with status DUNE_EXIT_DIE. */
void dune_die(void) __attribute__((noreturn));

/* True when running in Dune mode (CPL0 in VMX non-root). */
static inline bool dune_in_guest(void)
{
	return cpl() == 0;
}

/* ------------------------------------------------------------------
 * Addresses.  Guest-physical == host-virtual except for the host's mmap and
 * stack regions, which are folded at the top of guest-physical space (see
 * struct dune_layout and layout.h).  Valid after dune_init().
 */
#define DUNE_BAD_PA_VALUE	(~0ULL)

/* Guest-physical address of host-virtual va, or DUNE_BAD_PA_VALUE if it has none. */
uint64_t dune_va_to_pa(const void *va);
/* Host-virtual address of guest-physical pa (inverse of dune_va_to_pa), or NULL. */
void *dune_pa_to_va(uint64_t pa);

/* ------------------------------------------------------------------
 * Page allocator: 4 KiB guest-physical pages owned by libdune (one big
 * MAP_NORESERVE region reserved by dune_init(), mapped in the guest without
 * PTE_U).  Page-table pages come from it too.  Thread-safe, usable on the
 * host and in Dune mode.
 */
struct dune_page {
	uint32_t ref;		/* reference count (0: free) */
	uint32_t next;		/* free-list link (allocator-private) */
};

/* A zero-filled page with reference count 1, or NULL when the region is exhausted. */
struct dune_page *dune_page_alloc(void);
/* Return pg to the allocator regardless of its count (normally use dune_page_put). */
void dune_page_free(struct dune_page *pg);
/* Take one more reference. */
void dune_page_get(struct dune_page *pg);
/* Drop a reference; frees the page when the count reaches 0 (returns true then). */
bool dune_page_put(struct dune_page *pg);
/* Guest-physical address of pg. */
physaddr_t dune_page2pa(const struct dune_page *pg);
/* Host-virtual address of pg's contents (also valid in Dune mode). */
void *dune_page2va(const struct dune_page *pg);
/* The page at guest-physical address pa (4 KiB aligned), or NULL if pa is not an allocator page. */
struct dune_page *dune_pa2page(physaddr_t pa);
/* True if pa lies in the allocator's data pages. */
bool dune_page_isfrompool(physaddr_t pa);
/* Pages currently allocated (page-table pages included); for leak checks. */
size_t dune_page_nr_used(void);

/* ------------------------------------------------------------------
 * Page tables.  A root (ptent_t *, a PML4) is libdune's table `pgroot` or
 * one made by dune_vm_clone(); all table pages come from the page allocator.
 * Addresses and lengths are 4 KiB aligned and below VA_USER_LIMIT.  Every
 * function takes the page-table lock (do not call them from a page-walk
 * callback) and none flushes the TLB: in Dune mode call dune_flush_tlb_one()
 * or dune_flush_tlb() after changing the loaded table.
 * A leaf mapping an allocator page through dune_vm_insert_page() (or a COW
 * copy / clone of one) holds a reference to it (PTE_PAGE); unmapping,
 * replacing or freeing the leaf drops it.  Other mappings own nothing.
 */
#define PERM_NONE	0x0000	/* mprotect: unmap */
#define PERM_R		0x0001	/* readable (present) */
#define PERM_W		0x0002	/* writable */
#define PERM_X		0x0004	/* executable (else NX) */
#define PERM_U		0x0008	/* CPL3 accessible (PTE_U) */
#define PERM_UC		0x0010	/* uncached (PCD | PWT) */
#define PERM_COW	0x0020	/* copy-on-write marker (PTE_COW); give it without PERM_W */
#define PERM_USR1	0x1000	/* application software bits (PTE_USR1..3) */
#define PERM_USR2	0x2000
#define PERM_USR3	0x4000
#define PERM_BIG	0x0100	/* map_phys/map_pages: 2 MiB pages where va, pa and len allow */
#define PERM_ALL	(PERM_R | PERM_W | PERM_X | PERM_U | PERM_UC | PERM_COW | \
			 PERM_USR1 | PERM_USR2 | PERM_USR3 | PERM_BIG)

/* create argument of dune_vm_lookup */
#define CREATE_NONE	0
#define CREATE_NORMAL	1

/* A new, empty root (free it with dune_vm_free), or NULL on OOM. */
ptent_t *dune_vm_new(void);

/*
 * Leaf entry for va.  CREATE_NONE: the 4 KiB PTE or the 2 MiB PDE (PTE_PS
 * set) covering va, present or not; -ENOENT if a table on the way is
 * missing.  CREATE_NORMAL: missing tables are allocated and a 2 MiB page
 * covering va is split, so *pte_out is always a 4 KiB PTE; -ENOMEM on OOM.
 * -EINVAL for a bad root.
 */
int dune_vm_lookup(ptent_t *root, void *va, int create, ptent_t **pte_out);

/*
 * Map [va, va+len) to guest-physical [pa, pa+len) with perm (needs at least
 * one of PERM_R/W/X).  Existing mappings in the range are replaced (their
 * page references dropped).  4 KiB pages unless PERM_BIG.  0, -EINVAL, -ENOMEM.
 */
int dune_vm_map_phys(ptent_t *root, void *va, size_t len, uint64_t pa, int perm);

/* Map host memory [va, va+len) at its own guest-physical address
 * (dune_va_to_pa).  Like map_phys; -EFAULT if part of it has none. */
int dune_vm_map_pages(ptent_t *root, void *va, size_t len, int perm);

/* Map allocator page pg at va (4 KiB), taking a reference on it. 0, -EINVAL, -ENOMEM. */
int dune_vm_insert_page(ptent_t *root, void *va, struct dune_page *pg, int perm);

/* The allocator page mapped at va (no reference taken).  -ENOENT if va is
 * unmapped, -EINVAL if it maps memory that is not an allocator page. */
int dune_vm_lookup_page(ptent_t *root, void *va, struct dune_page **pg_out);

/*
 * Set the permissions of the present pages in [va, va+len) to perm (W, X,
 * U, UC, COW and USR bits are replaced; frames, A/D and references kept;
 * 2 MiB pages partly covered are split).  PERM_NONE (no R/W/X) unmaps.
 * 0, -EINVAL, -ENOMEM.
 */
int dune_vm_mprotect(ptent_t *root, void *va, size_t len, int perm);

/*
 * Give (user = true) or take away ring-3 access (PTE_U) to the present pages
 * in [va, va+len), keeping everything else (2 MiB pages partly covered are
 * split).  Ring 3 can touch only PTE_U pages: libdune's mirror of the
 * process has no PTE_U except memory that ring-3 code mapped itself.
 * 0, -EINVAL, -ENOMEM.
 */
int dune_vm_set_user(ptent_t *root, void *va, size_t len, bool user);

/* Remove the mappings in [va, va+len), dropping page references.  Table
 * pages are kept until dune_vm_free().  0, -EINVAL, -ENOMEM (split). */
int dune_vm_unmap(ptent_t *root, void *va, size_t len);

/*
 * A new root with a copy of every table of root.  Leaves are shared:
 * allocator pages get one more reference, and writable user pages
 * (PTE_W and PTE_U) become read-only + PTE_COW in BOTH tables, so the first
 * write on either side faults and dune_vm_default_pgflt_handler() gives that
 * side a private copy.  NULL on OOM.  Mind that cloning the live table makes
 * every PTE_U page the running code writes (stack, globals) COW too.
 */
ptent_t *dune_vm_clone(ptent_t *root);

/* Free a table made by dune_vm_new() or dune_vm_clone(): drops page references and frees
 * every table page.  Never pass the loaded table. */
void dune_vm_free(ptent_t *root);

/*
 * Call cb(arg, pte, va) for every present leaf intersecting [start, end)
 * in address order (pte may be a 2 MiB PDE: check PTE_PS).  cb may read and
 * change *pte (e.g. test and clear PTE_D/PTE_A; flush afterwards) but must
 * not call dune_vm_*.  Stops at the first non-zero return and returns it;
 * else 0.
 */
typedef int (*dune_page_walk_cb)(const void *arg, ptent_t *pte, void *va);
int dune_vm_page_walk(ptent_t *root, void *start, void *end, dune_page_walk_cb cb, const void *arg);

/*
 * Resolve a write fault at addr on a PTE_COW page of root: if the page is an
 * allocator page nobody else references it becomes writable again, otherwise
 * the faulting side gets a private copy (PTE_PAGE, writable, COW cleared).
 * 0 if resolved (and, in Dune mode, the TLB entry flushed), -EFAULT if addr
 * is not a COW page, -ENOMEM.
 */
int dune_vm_cow_fault(ptent_t *root, uintptr_t addr);

/*
 * The page-fault policy for COW: call it from a dune_register_pgflt_handler()
 * handler.  Resolves write faults on present COW pages of the loaded table
 * (CR3 in Dune mode; pgroot on the host, for tests) and returns 0; -EFAULT
 * for any other fault (the caller decides).
 */
int dune_vm_default_pgflt_handler(uintptr_t addr, uint64_t fec);

/* The guest page table libdune built (PML4), and its guest-physical address (CR3). */
extern ptent_t *pgroot;
uint64_t dune_pgroot_pa(void);

/* Ask the host which memory backs addr and map it (the default lazy page-fault
 * repair; usable from a pgflt handler).  0 if addr is now mapped, else -errno. */
int dune_pgflt_sync(uintptr_t addr);

/* TLB control (dune_flush_tlb, dune_flush_tlb_one) is in mmu.h. */

/* ------------------------------------------------------------------
 * Ring 3 (user.c).  dune_jump_to_user() runs code at CPL3 (cs GD_UT|3 =
 * 0x33, ss GD_UD|3 = 0x2b, IF on) from the registers in *tf (rip, rsp and
 * the GPRs; cs, ss, trapno, err are ignored, rflags keeps only the
 * arithmetic flags, TF and DF).  The stack below the caller's frame is the
 * ring-0 stack (TSS RSP0) of the run: ring-3 SYSCALLs reach the registered
 * syscall handler (tf->cs == 0x33, tf->rsp the user stack; no handler:
 * passthrough) and exceptions/interrupts reach the usual handlers with a
 * CPL3 frame.  A handler resumes ring 3 by returning, or ends the run with
 * dune_ret_from_user(ret): dune_jump_to_user() then returns ret.  One run
 * per thread at a time (-EBUSY); -EPERM outside Dune mode.
 * An exception from ring 3 that no handler takes ends the run: the frame
 * is printed and dune_jump_to_user() returns DUNE_USER_FAULT_BASE + the
 * signal Linux would have sent (e.g. SIGSEGV).  Ring 3 has its own FS base
 * (dune_set_ring3_fs; by default the caller's), swapped on every crossing.
 * VMCALL from ring 3 raises #UD (dune.ko), so its only way out is SYSCALL.
 * All memory the user code touches must be mapped with PTE_U: the mirror
 * of the process has none, so give ring 3 its code, data and stack with
 * dune_vm_set_user(); memory that ring-3 code maps itself (its mmap,
 * mprotect, brk, mremap, shmat) gets PTE_U automatically.
 */
#define DUNE_USER_FAULT_BASE	0x10000
int dune_jump_to_user(struct dune_tf *tf);
/* From a ring-0 handler during a dune_jump_to_user() run: end it, returning ret. */
void dune_ret_from_user(int ret) __attribute__((noreturn));
/*
 * FS base (TLS pointer) of ring-3 code: before a run, the value it starts
 * with; from a ring-0 handler during a run, the value it resumes with (how
 * an arch_prctl(ARCH_SET_FS) is emulated).  0 or -EPERM (kernel half).
 */
int dune_set_ring3_fs(uint64_t fs);
/* The FS base ring-3 code has (during a run: as of its last entry to ring 0). */
uint64_t dune_get_ring3_fs(void);

/*
 * Run the ELF program path (static or dynamic, ET_EXEC or PIE) to its end
 * in ring 3 under the calling thread, like execve in a new process but
 * inside this one: argv (NULL-terminated), envp (NULL: empty), the initial
 * stack, auxv, a fresh FS base and a program break are the program's own,
 * and only its own memory (image, stack, break, what it maps) is PTE_U:
 * the rest of this process is out of its direct reach.  Not a security
 * boundary by itself: syscall arguments that are pointers or address
 * ranges reach the host unchecked unless filter checks them (README).
 * Its syscalls first go to filter (if not NULL): return true when the
 * filter handled the call (tf->rax set), false for the default.  Filters may
 * also end the program: dune_ret_from_user(DUNE_USER_FAULT_BASE + SIGSYS)
 * reports it as killed by SIGSYS.  The default: exit/exit_group end the
 * run; brk, arch_prctl(ARCH_SET_FS/ARCH_GET_FS), set_tid_address are
 * emulated; set_robust_list, rseq, clone/fork/vfork/execve (one program,
 * one thread) and rt_sigaction with a handler get -ENOSYS; the rest runs on
 * the host unchanged.  On return *status is the exit code (0..255) or 128 +
 * signal if an exception killed it, and the program's image, stack and
 * break are unmapped (memory it mmap'd itself and files it opened stay: it
 * shares this process).  Returns 0, -EPERM (not in Dune mode), -EINVAL
 * (dune_init(false): its mmaps would not be mirrored), -EBUSY (a run is
 * active), or the loader's -errno (-ENOENT, -ENOEXEC, -EEXIST when a fixed
 * address is taken, e.g. a non-PIE at the caller's own link address).
 * Not re-entrant across threads: it installs its syscall handler for the
 * duration and restores the previous one after.
 */
typedef bool (*dune_exec_filter)(struct dune_tf *tf, void *arg);
int dune_exec_user(const char *path, char *const argv[], char *const envp[],
		   dune_exec_filter filter, void *filter_arg, int *status);

#ifdef __cplusplus
}
#endif

#endif /* LIBDUNE_DUNE_H */
