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

/* Guest-physical address of a host-virtual address (DUNE_BAD_PA_VALUE if none). */
#define DUNE_BAD_PA_VALUE	(~0ULL)
uint64_t dune_va_to_pa(const void *va);

/* The guest page table libdune built (PML4), and its guest-physical address (CR3). */
extern ptent_t *pgroot;
uint64_t dune_pgroot_pa(void);

/* Page-table access (all lock the page table; flushing is the caller's job in Dune mode). */
#define PERM_NONE	0x0
#define PERM_R		0x1
#define PERM_W		0x2
#define PERM_X		0x4
#define PERM_U		0x8
#define PERM_NOBIG	0x100	/* only 4 KiB pages */

/* 4 KiB PTE for va in the page table rooted at root (must be pgroot), creating tables if asked. 0 or -errno. */
int dune_vm_lookup(ptent_t *root, void *va, int create, ptent_t **pte_out);
/* Map [va, va+len) to the guest-physical image of the same addresses (per the layout). */
int dune_vm_map_pages(ptent_t *root, void *va, size_t len, int perm);
int dune_vm_map_phys(ptent_t *root, void *va, size_t len, uint64_t pa, int perm);
int dune_vm_unmap(ptent_t *root, void *va, size_t len);
int dune_vm_mprotect(ptent_t *root, void *va, size_t len, int perm);

/* Ask the host which memory backs addr and map it (the default lazy page-fault
 * repair; usable from a pgflt handler).  0 if addr is now mapped, else -errno. */
int dune_pgflt_sync(uintptr_t addr);

static inline void dune_flush_tlb(void) { flush_tlb(); }
static inline void dune_flush_tlb_one(uintptr_t va) { invlpg((const void *)va); }

#ifdef __cplusplus
}
#endif

#endif /* LIBDUNE_DUNE_H */
