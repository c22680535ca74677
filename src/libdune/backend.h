/*
 * backend.h - what libdune needs from the thing that runs its guest: one
 * small ops table, chosen once at dune_init() (backend.c).
 *
 *   dune   /dev/dune (src/kmod): the module runs the vCPU and answers the
 *          protocol of uapi/dune.h itself (backend_dune.c).
 *   kvm    /dev/kvm: libdune builds the VM with KVM's own ioctls and
 *          translates KVM's exits into the same protocol (backend_kvm.c).
 *
 * The host loop (hostloop.c) speaks only the dune.ko protocol: registers in
 * struct dune_config, DUNE_RET_* reasons, rip past the exiting instruction on
 * DUNE_RET_SYSCALL.  A back end that is not dune.ko converts to and from it.
 * Host side only, except where a member says otherwise.
 */
#ifndef LIBDUNE_BACKEND_H
#define LIBDUNE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include "../kmod/uapi/dune.h"

struct dune_thread;

/* How the guest leaves for the host loop (vmcall6() in internal.h).  Both sequences are 3 bytes
 * long, so rewinding rip by 3 re-executes the call (SA_RESTART, signals.c). */
#define DUNE_EXIT_VMCALL	0	/* 0f 01 c1: dune.ko turns it into DUNE_RET_SYSCALL */
#define DUNE_EXIT_HLT		1	/* 66 90 f4 (2-byte nop, hlt): KVM_EXIT_HLT reaches user space */
#define DUNE_EXIT_INSN_LEN	3

struct dune_backend {
	const char *name;		/* "dune", "kvm" */
	int exit_insn;			/* DUNE_EXIT_* the guest uses */
	/* The guest runs on the thread's own FPU registers (dune.ko): the host loop must
	 * keep them live across a round trip.  false: the back end keeps the guest's FPU. */
	bool guest_fpu_in_thread;

	/* Create the VM context for this process: fills *layout, returns an fd (O_CLOEXEC) or -errno.
	 * quiet: the caller tries another back end if this one fails (auto). */
	int (*open)(struct dune_layout *layout, bool quiet);
	/* In a fork child: replace the inherited context (fd) by a fresh one for this process. */
	int (*fork_child)(int fd);
	/* Guest-physical memory for [va, va+len) (host-virtual, per the layout) is about to be
	 * referenced by the guest page table.  Page-table lock held. */
	int (*map)(uintptr_t va, uint64_t len);
	/* [va, va+len) was unmapped on the host (munmap, mremap's old range, shmdt): guest-physical
	 * memory wholly inside it may be given back. */
	void (*unmap)(uintptr_t va, uint64_t len);
	/* Run t's vCPU (creating it when t->conf.vcpu == 0) with the registers in t->conf until
	 * the host loop must act; t->conf then holds the registers and DUNE_RET_* in ret.
	 * 0 or -errno (-EINTR: a signal arrived; the host handler has run). */
	long (*run)(struct dune_thread *t);
	/* Queue interrupt vector vec (32..255) for t's vCPU, injected as soon as the guest has IF=1. */
	long (*queue_intr)(struct dune_thread *t, unsigned int vec);
	/* From a signal handler on t's host thread: the next or current run returns at once. */
	void (*kick)(struct dune_thread *t);
	/* t's thread is leaving (its vCPU goes away). */
	void (*vcpu_release)(struct dune_thread *t);
	/* Event counters of this process's VM (struct dune_stats).  Host side, pointer may be bad. */
	long (*get_stats)(struct dune_stats *st);
};

#define DUNE_BE_HIDDEN __attribute__((visibility("hidden")))

extern const struct dune_backend dune_backend_dune DUNE_BE_HIDDEN;
extern const struct dune_backend dune_backend_kvm DUNE_BE_HIDDEN;

/* The chosen back end (NULL before dune_init()), and the exit sequence the guest uses. */
extern const struct dune_backend *dune_be DUNE_BE_HIDDEN;
extern int dune_exit_insn DUNE_BE_HIDDEN;

/* Pick and open the back end per DUNE_BACKEND (dune, kvm, auto: dune when usable, else kvm). */
int dune_backend_open(struct dune_layout *layout) DUNE_BE_HIDDEN;

/* Per-thread state of a back end (in struct dune_thread). */
struct dune_be_vcpu {
	int fd;				/* kvm: the vCPU fd, -1 before creation */
	int stats_fd;			/* kvm: KVM_GET_STATS_FD of the vCPU, -1 if none */
	void *run;			/* kvm: struct kvm_run mapping */
	uint64_t id;			/* kvm: vCPU id */
	uint64_t intr[4];		/* kvm: vectors queued, not yet injected (bit = vector) */
	int slot;			/* kvm: index in the back end's table of live vCPUs */
	int timer;			/* kvm: the watchdog's POSIX timer (thread CPU time), -1 if none */
	volatile int watchdog;		/* kvm: set by the watchdog's signal, cleared by the run op */
};

/* libdune-private VMCALL numbers, handled by the host loop (see also internal.h). */
#define DUNE_VMCALL_GET_STATS	0x7d000002	/* rdi = struct dune_stats *: the back end's counters */

#endif /* LIBDUNE_BACKEND_H */
