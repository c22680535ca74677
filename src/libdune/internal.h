/*
 * internal.h - libdune internals shared by its files and entry.S.
 *
 * Host side, calls run one way: dune.c (dune_init) -> hostloop.c (dune_enter,
 * the host loop) -> clone.c, mirror.c, signals.c, thread.c -> host_util.c and
 * the page-table code (pt.c, vm.c, page.c, maps.c, layout.c).  Guest side:
 * entry.S -> syscall.c (system calls) and trap.c (traps, signals, output).
 */
#ifndef LIBDUNE_INTERNAL_H
#define LIBDUNE_INTERNAL_H

#include <signal.h>
#include <stdint.h>
#include "dune.h"
#include "backend.h"
#include "layout.h"
#include "pt.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* Per-thread memory block (one mmap, see dune_thread_alloc() in thread.c):
 *   [guard][host-loop stack][guard][IST stacks][struct dune_thread + xsave area]
 * Everything from the IST stacks on is mapped in the guest page table
 * (without PTE_U); the host-loop stack is not. */
#define HOST_STACK_SIZE		(256UL * 1024)
#define IST_STACK_SIZE		(32UL * 1024)
#define NR_IST			4	/* 1: all ordinary vectors, 2: NMI, 3: #DF, 4: #MC */

/* 64-bit TSS (Intel SDM vol. 3, 8.7). */
struct __attribute__((packed)) x86_tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];	/* ist[0] is IST1 (offset 0x24) ... ist[6] is IST7 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};
_Static_assert(sizeof(struct x86_tss) == 104, "64-bit TSS is 104 bytes");
_Static_assert(__builtin_offsetof(struct x86_tss, ist) == 0x24, "IST1 is at offset 0x24");

/* The kernel's struct sigaction for rt_sigaction (x86-64). */
struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

#define DUNE_MAX_SIG	(255 - DUNE_SIGNAL_INTR_BASE)	/* 55: highest signal with a vector */
#define DUNE_SIG_WATCHDOG	64	/* SIGRTMAX: the KVM back end's watchdog (no vector, so no guest use lost) */

struct dune_thread {
	struct dune_config conf;	/* ioctl argument */
	struct dune_tf boot_tf;		/* state __dune_boot starts the guest in */
	uint64_t gdt[GD_ENTRIES] __attribute__((aligned(16)));
	struct x86_tss tss __attribute__((aligned(16)));
	uint16_t gdtr_pad[3];
	struct x86_dtr gdtr;		/* 2-byte aligned limit, base follows */

	void *block;			/* whole mmap, for munmap at thread exit */
	size_t block_size;
	uintptr_t guest_start;		/* first byte mapped in the guest page table */
	uintptr_t host_stack_top;
	uintptr_t ist_top[NR_IST + 1];

	volatile uint64_t pending;	/* host signals not yet queued for the guest (bit = signo) */
	siginfo_t siginfo[DUNE_MAX_SIG + 1];

	uint64_t tlb_gen;		/* dune_tlb_gen last seen by this thread's guest */
	uint64_t *enter_saved;		/* dune_enter's saved registers until the first successful entry */
	int fpu_mode;			/* 0 none, 1 fxsave, 2 xsave */
	uint8_t *fpu;			/* 64-byte aligned save area (guest FPU state while parked) */
	bool fpu_live;			/* host loop: the registers hold the guest's FPU state, fpu is stale */
	void *syscall_fpu;		/* guest: the FPU area dune_fpu_call saved for the running syscall handler */
	struct dune_be_vcpu be;		/* the back end's per-thread state (backend.h) */
};

/* ---- globals (dune.c) ---- */
extern bool dune_inited HIDDEN;
extern int dune_fd HIDDEN;
extern struct dune_layout dune_layout HIDDEN;
extern struct pt dune_pt HIDDEN;
extern bool dune_map_full HIDDEN;
extern volatile uint64_t dune_tlb_gen HIDDEN;
extern uint64_t dune_idt[512] HIDDEN;
extern struct x86_dtr dune_idtr HIDDEN;
extern size_t dune_fpu_size HIDDEN;
extern int dune_fpu_mode HIDDEN;

extern dune_intr_cb dune_intr_cbs[256] HIDDEN;
extern dune_pgflt_cb dune_pgflt_handler HIDDEN;
extern dune_syscall_cb dune_syscall_handler HIDDEN;

/* Guest view of signal dispositions (signals.c). */
extern struct k_sigaction dune_guest_sigact[DUNE_MAX_SIG + 1] HIDDEN;
extern volatile int dune_sigact_lock HIDDEN;

/* The calling thread's Dune state (same TLS in host and guest mode). */
extern __thread struct dune_thread *dune_self __attribute__((tls_model("initial-exec"))) HIDDEN;

/* ---- page-table lock (vm.c): usable on the host and in the guest (there it also disables interrupts) ---- */
uint64_t dune_pt_lock(void) HIDDEN;
void dune_pt_unlock(uint64_t flags) HIDDEN;

void dune_pt_lock_reset(void) HIDDEN;
/* pt.c hooks over the page allocator (vm.c): every libdune page table uses them. */
extern const struct pt_ops dune_vm_ops HIDDEN;

/* ---- the mirror of the host address space (mirror.c) ---- */
/* Map [va, va+len) per the layout with MAPS_* protections, user or libdune-private. Caller holds the lock. */
int dune_map_range_locked(uintptr_t va, size_t len, int prot, bool user) HIDDEN;
/* Re-read /proc/self/maps and mirror [start, end) (start == end == 0: everything). Takes the lock. */
int dune_sync_from_maps(uintptr_t start, uintptr_t end, bool user) HIDDEN;
/* VMA containing addr from /proc/self/maps (MAPS_* prot); also reports the [stack] start. 0 or -ENOENT. */
int dune_find_vma(uintptr_t addr, uintptr_t *start, uintptr_t *end, int *prot, uintptr_t *stack_start) HIDDEN;
void dune_pregrow_stack(void) HIDDEN;
void dune_brk_init(void) HIDDEN;
bool dune_from_ring3(const struct dune_config *c) HIDDEN;
long dune_pgflt_sync_host(uintptr_t addr) HIDDEN;
/* An address-space syscall of the guest, run and mirrored; *flush: the guest must flush its TLB. */
long dune_mirror_syscall(const struct dune_config *c, bool *flush) HIDDEN;

static inline void *host_or_guest_mmap(size_t len)
{
	long r = dune_syscall6(9 /* mmap */, 0, (long)len, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);

	return (r < 0 && r > -4096) ? NULL : (void *)r;
}

static inline void host_or_guest_munmap(void *p, size_t len)
{
	dune_syscall6(11 /* munmap */, (long)p, (long)len, 0, 0, 0, 0);
}

/* ---- host side ---- */
/* hostloop.c */
int dune_enter_c(uint64_t *saved) HIDDEN;
/* thread.c */
struct dune_thread *dune_thread_alloc(void) HIDDEN;
void dune_thread_free(struct dune_thread *t) HIDDEN;
void dune_thread_unmap_guest(struct dune_thread *t) HIDDEN;
void dune_thread_setup_gdt(struct dune_thread *t) HIDDEN;
void dune_thread_prepare_boot(struct dune_thread *t) HIDDEN;
struct dune_thread *dune_thread_for_enter(uint64_t *saved) HIDDEN;
void dune_thread_exit(struct dune_thread *t, long status) HIDDEN __attribute__((noreturn));
void dune_thread_first_entry_failed(struct dune_thread *t, long err) HIDDEN __attribute__((noreturn));
/* signals.c */
int dune_host_signals_init(void) HIDDEN;
long dune_guest_rt_sigaction(long sig, const struct k_sigaction *act, struct k_sigaction *oact, long size) HIDDEN;
bool dune_maybe_restart(struct dune_thread *t, long nr) HIDDEN;
/* clone.c: a new thread's host side starts in start(its struct dune_thread *) */
long dune_do_clone(struct dune_thread *t, unsigned long flags, uint64_t newsp, uint64_t ptid,
		   uint64_t ctid, uint64_t tls, bool *child, void (*start)(void *)) HIDDEN;
/* host_util.c */
void dune_host_exit_group(long status) HIDDEN __attribute__((noreturn));
int dune_host_copy(void *dst, const void *src, size_t n) HIDDEN;

static inline void host_spin_lock(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			__builtin_ia32_pause();
}

static inline void host_spin_unlock(volatile int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* ---- guest side ---- */
/* trap.c */
void dune_trap_dispatch(struct dune_tf *tf) HIDDEN;
void dune_syscall_sigreturn(struct dune_tf *tf) HIDDEN;
void dune_syscall_arch_prctl_done(struct dune_tf *tf) HIDDEN;
/* syscall.c */
void dune_syscall_dispatch(struct dune_tf *tf) HIDDEN;
/* The syscall handler will not return (dune_ret_from_user): clear its reentrancy guard. */
void dune_syscall_handler_done(void) HIDDEN;

/* ---- ring 3 (user.c, entry.S) ---- */
bool dune_user_active(void) HIDDEN;
/* backtrace.c: frame-pointer walk from rip/rbp, checked against the live page table */
void dune_print_backtrace(uint64_t rip, uint64_t rbp) HIDDEN;
void dune_user_msrs_kernel(void) HIDDEN;	/* ring-0 LSTAR/SFMASK */
void dune_user_msrs_user(void) HIDDEN;		/* LSTAR/SFMASK while ring-3 code runs */

/* libdune-private VMCALL numbers, handled by the host loop. */
#define DUNE_VMCALL_PGFLT_SYNC	0x7d000001	/* rdi = address: map the VMA holding it */

/* ---- entry.S ---- */
extern char dune_syscall_entry[] HIDDEN;
extern char dune_trap_stubs[] HIDDEN;	/* 256 stubs, DUNE_TRAP_STUB_SIZE bytes apart */
#define DUNE_TRAP_STUB_SIZE 16
extern char __dune_boot[] HIDDEN;
void dune_switch_stack(uintptr_t top, void (*fn)(void *), void *arg) HIDDEN __attribute__((noreturn));
void dune_host_return(uint64_t *saved, long value, void *unmap, size_t len) HIDDEN __attribute__((noreturn));
long dune_raw_clone(unsigned long flags, uintptr_t stack, void *ptid, void *ctid, unsigned long tls,
		    void (*fn)(void *), void *arg) HIDDEN;
void dune_exit_unmap(void *addr, size_t len, long status) HIDDEN __attribute__((noreturn));
void dune_fpu_save(void *area, int mode) HIDDEN;
void dune_fpu_restore(const void *area, int mode) HIDDEN;
/* Guest: fn(tf) with the FPU state saved around it. */
/* fn(tf, area, arg) with the caller's FPU state saved in area around it (entry.S). */
typedef void (*dune_fpu_fn)(struct dune_tf *tf, void *fpu, void *arg);
void dune_fpu_call(dune_fpu_fn fn, struct dune_tf *tf, void *arg) HIDDEN;

/* Raw host syscall (never through glibc, no errno). */
static inline long host_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * VMCALL form of a syscall, guest only.  *flags gets the host's rcx (bit 0: flush TLB).
 * The exiting instruction is the back end's (backend.h): VMCALL for dune.ko; for KVM, which
 * answers VMCALL in the kernel as a hypercall, HLT, which KVM without an in-kernel irqchip
 * returns to user space (KVM_EXIT_HLT) on Intel and AMD alike.
 */
static inline long vmcall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5,
			   const struct dune_tf *tf, uint64_t *flags)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	register const struct dune_tf *r12 __asm__("r12") = tf;
	uint64_t rcx = 0;
	long ret;

	if (__builtin_expect(dune_exit_insn == DUNE_EXIT_HLT, 0))
		__asm__ volatile(".byte 0x66, 0x90\n\thlt"	/* 3 bytes, like VMCALL */
				 : "=a"(ret), "+c"(rcx)
				 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9), "r"(r12)
				 : "r11", "memory");
	else
		__asm__ volatile("vmcall"
				 : "=a"(ret), "+c"(rcx)
				 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9), "r"(r12)
				 : "r11", "memory");
	if (flags)
		*flags = rcx;
	return ret;
}

#endif /* LIBDUNE_INTERNAL_H */
