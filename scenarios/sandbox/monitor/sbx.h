/*
 * sbx.h - the monitor's internals shared by its files (Dune side).
 *
 * Address space of a dune-sandbox process:
 *   [SBX_ARENA_LO, SBX_HOLE_LO)    the program's arena (its part below 1 GiB:
 *                                  ET_EXEC images at 0x400000, their break)
 *   [SBX_HOLE_LO, SBX_HOLE_HI)     the monitor: linked at 1 GiB (static, non-PIE:
 *                                  below 2 GiB for the small code model), its
 *                                  data and its brk heap; never the program's
 *   [SBX_HOLE_HI, SBX_ARENA_HI)    the program's arena again: PIEs at 64 GiB,
 *                                  mmaps top down, the stack at the top
 *   mmap area, stack               the monitor's other memory, libdune's
 * What the program has not mapped in its arena is reserved PROT_NONE by the
 * monitor, so no memory of the monitor's can ever be placed there.
 */
#ifndef SBX_SBX_H
#define SBX_SBX_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <dune.h>

#include "arena.h"
#include "check.h"
#include "paths.h"
#include "policy.h"
#include "systab.h"

#define SBX_ARENA_LO	0x10000ULL		/* mmap_min_addr */
#define SBX_ARENA_HI	0x4000000000ULL		/* 256 GiB */
#define SBX_HOLE_LO	0x40000000ULL		/* the monitor's window: where the Makefile links it... */
#define SBX_HOLE_HI	0x80000000ULL		/* ...and room for its brk heap */
#define SBX_MONITOR	SBX_HOLE_LO
#define SBX_STACK_SIZE	(8ULL << 20)
#define SBX_STACK_GAP	(1ULL << 20)		/* between the stack and the highest mmap */
#define SBX_BRK_MAX	(4ULL << 30)		/* room kept for the program break */
#define SBX_PIE_LOW	0x1000000000ULL		/* 64 GiB: where a PIE program is loaded */
#define SBX_FD_BASE	960			/* fds >= this are the monitor's */
#define SBX_FD_LIMIT	1024
#define DUNE_MAX_SIGNAL	(255 - DUNE_SIGNAL_INTR_BASE)	/* 55: the highest signal with a vector */

#define SBX_EXIT_ERROR	125	/* dune-sandbox itself failed (policy, Dune, loader) */
#define SBX_EXIT_NOEXEC	126	/* the program cannot be executed */
#define SBX_EXIT_NOENT	127	/* the program was not found */

/* ---- kernel ABI (x86-64) ---- */
struct k_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct k_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved1[8];
};
_Static_assert(sizeof(struct k_sigcontext) == 256, "struct sigcontext is 256 bytes");

struct k_stack {
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
};

struct k_ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	struct k_stack uc_stack;
	struct k_sigcontext uc_mcontext;
	uint64_t uc_sigmask;
};
_Static_assert(sizeof(struct k_ucontext) == 304, "kernel struct ucontext is 304 bytes");

struct rt_sigframe {
	uint64_t pretcode;
	struct k_ucontext uc;
	siginfo_t info;
};
_Static_assert(sizeof(struct rt_sigframe) == 440, "rt_sigframe is 440 bytes");

#define UC_FP_XSTATE		0x1
#define UC_SIGCONTEXT_SS	0x2
#define UC_STRICT_RESTORE_SS	0x4
#define FP_XSTATE_MAGIC1	0x46505853U
#define FP_XSTATE_MAGIC2	0x46505845U
#ifndef SS_AUTODISARM
#define SS_AUTODISARM		(1U << 31)
#endif
#ifndef PROT_SEM
#define PROT_SEM		0x8
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE	101
#endif
#ifndef SA_RESTORER
#define SA_RESTORER		0x04000000
#endif

/* ---- per ring-3 thread ---- */
struct r3thread {
	uint64_t pending;		/* signals to deliver on the way back to ring 3 (bit = signo) */
	siginfo_t info[65];
	struct k_stack altstack;	/* sigaltstack (ss_flags SS_DISABLE when none) */
	uint64_t clear_tid;		/* set_tid_address */
	int tid;
	long sys_nr;			/* the call being served (for SA_RESTART) */
	bool at_syscall;		/* returning from a system call (rax is its result) */
	uint64_t self_sent;		/* signals the program sent itself (siginfo known) */
	uint8_t *fpbuf;			/* scratch for sigreturn's FPU state (S.fpu_size bytes) */
	uint8_t *sys_fpu;		/* ring 3's FPU state, saved by libdune around the call being served */
};

/* ---- the monitor's state (one per process; copied by fork) ---- */
struct sbx {
	struct sbx_policy *pol;
	struct arena ar;
	struct sbx_fs fs;
	struct sbx_uaccess ua;
	int log_fd;
	bool verify, stats, trace;
	uint64_t fd_bits[SBX_FD_LIMIT / 64];	/* the monitor's fds */
	uint64_t wfd_bits[SBX_FD_LIMIT / 64];	/* the program's fds opened where writes are allowed */
	struct k_sigaction act[65];		/* the program's signal dispositions */
	uint64_t brk_start, brk_cur;
	char prog_path[4096];
	pid_t pid;
	pid_t children[64];
	int nchildren;
	volatile int *nprocs;			/* live sandboxed processes (shared page) */
	uint64_t kgs_base;			/* KERNEL_GS_BASE during a ring-3 run (restored in fork children) */
	size_t fpu_size;
	int fpu_mode;				/* 2 xsave, 1 fxsave */
	uint64_t xcr0;
	uint32_t mxcsr_mask;
	volatile int lock;			/* sbx_lock() */
	volatile int nthreads;			/* the program's threads alive (this process) */
	/* counters */
	uint64_t nsyscalls, ndenied, nfaults, nsignals;
	uint64_t per_nr[SBX_NR_MAX];
};

extern struct sbx S;
extern __thread struct r3thread *r3;

/* sandbox.c */
void sbx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sbx_log_syscall(const struct dune_tf *tf, const struct sc_desc *d, const char *decision, long err,
		     const char *reason);
void sbx_log_event(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long sbx_r3call(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
int sbx_keep_fd(int fd, void *ctx);
void sbx_drop_fd(int fd, void *ctx);
bool sbx_is_monitor_fd(int fd);
void sbx_set_wfd(int fd, bool w);
bool sbx_wfd(int fd);
void sbx_exit(int status) __attribute__((noreturn));
void sbx_die_by_signal(int sig) __attribute__((noreturn));
int sbx_copy_in(void *dst, uint64_t src, size_t n);
int sbx_copy_out(uint64_t dst, const void *src, size_t n);
void sbx_verify_report(const char *when);
void sbx_drop_compat_segment(void);
void sbx_lock(void);
void sbx_unlock(void);
extern struct r3thread sbx_main_r3;

/* load.c */
int sbx_load(const char *path, int fd, char *const argv[], char *const envp[], struct dune_tf *tf);
void sbx_arena_reset(void);

/* mm.c */
void sbx_mm_syscall(struct dune_tf *tf);
int sbx_mm_map_fixed(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t off);
void sbx_mm_reset(void);

/* fsops.c */
void sbx_fs_syscall(struct dune_tf *tf, const struct sc_desc *d);
long sbx_fchdir(int fd);

/* signals.c */
void sbx_signals_init(void);
void sbx_sig_syscall(struct dune_tf *tf);
void sbx_deliver_pending(struct dune_tf *tf);
void sbx_fault(struct dune_tf *tf, int sig, int code, uint64_t addr, const char *what);
void sbx_sig_reset_for_exec(void);

/* proc.c */
void sbx_proc_syscall(struct dune_tf *tf, const struct sc_desc *d);
bool sbx_signal_target_ok(long pid);

/* net.c, misc.c */
void sbx_net_syscall(struct dune_tf *tf, const struct sc_desc *d);
void sbx_misc_syscall(struct dune_tf *tf, const struct sc_desc *d);

/* generic path: check the arguments by signature and pass the call through */
void sbx_generic(struct dune_tf *tf, const struct sc_desc *d);
/* run a checked call on the host with the checked arguments, as ring 3 */
long sbx_host(struct dune_tf *tf, const struct sbx_checked *c);

/* fault.c */
void sbx_faults_init(void);

static inline uint64_t arg(const struct dune_tf *tf, int i)
{
	switch (i) {
	case 0: return tf->rdi;
	case 1: return tf->rsi;
	case 2: return tf->rdx;
	case 3: return tf->r10;
	case 4: return tf->r8;
	default: return tf->r9;
	}
}

static inline void args_of(const struct dune_tf *tf, uint64_t a[6])
{
	a[0] = tf->rdi;
	a[1] = tf->rsi;
	a[2] = tf->rdx;
	a[3] = tf->r10;
	a[4] = tf->r8;
	a[5] = tf->r9;
}

#define SET_RET(tf, v)	((tf)->rax = (uint64_t)(long)(v))

#endif
