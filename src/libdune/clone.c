/*
 * clone.c - clone, fork and vfork from the guest, done on the host.
 *
 * A thread (CLONE_VM) gets its own thread block and host thread, which enters
 * a fresh vCPU through __dune_boot in the parent's user context; a process
 * (fork, vfork, clone without CLONE_VM) is a host fork whose child gets a
 * fresh VM from the back end and boots a fresh vCPU in the same place.  Host side only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "internal.h"
#include "page.h"

static void child_state(struct dune_thread *t, uint64_t newsp, struct dune_tf *ctf)
{
	const struct dune_config *c = &t->conf;
	const struct dune_tf *utf = (const struct dune_tf *)(uintptr_t)c->r12;

	if (!utf || ((uintptr_t)utf & 7) || dune_host_copy(ctf, utf, sizeof(*ctf)) ||
	    ctf->trapno != DUNE_TRAPNO_SYSCALL) {
		/* raw VMCALL not from libdune's syscall path: continue after it */
		memset(ctf, 0, sizeof(*ctf));
		ctf->rbx = c->rbx; ctf->rcx = c->rcx; ctf->rdx = c->rdx;
		ctf->rsi = c->rsi; ctf->rdi = c->rdi; ctf->rbp = c->rbp;
		ctf->r8 = c->r8; ctf->r9 = c->r9; ctf->r10 = c->r10; ctf->r11 = c->r11;
		ctf->r12 = c->r12; ctf->r13 = c->r13; ctf->r14 = c->r14; ctf->r15 = c->r15;
		ctf->rip = c->rip;
		ctf->rsp = c->rsp;
		ctf->rflags = c->rflags;
	}
	ctf->rax = 0;
	ctf->trapno = 0;
	ctf->err = 0;
	ctf->cs = GD_KT;
	ctf->ss = GD_KD;
	ctf->rflags |= X86_EFLAGS_FIXED;
	if (newsp)
		ctf->rsp = newsp;
}

static long clone_thread(struct dune_thread *t, unsigned long flags, uint64_t newsp,
			 uint64_t ptid, uint64_t ctid, uint64_t tls, const struct dune_tf *ctf,
			 void (*start)(void *))
{
	struct dune_thread *nt;
	long r;

	if (!(flags & CLONE_SETTLS)) {
		dune_printf("dune: clone(CLONE_VM) without CLONE_SETTLS is not supported\n");
		return -EINVAL;
	}
	if (!newsp)
		return -EINVAL;
	nt = dune_thread_alloc();
	if (!nt)
		return -ENOMEM;
	dune_thread_setup_gdt(nt);
	nt->boot_tf = *ctf;
	dune_thread_prepare_boot(nt);
	if (t->fpu_mode)
		memcpy(nt->fpu, t->fpu, dune_fpu_size);
	r = dune_raw_clone(flags, nt->host_stack_top, (void *)ptid, (void *)ctid, tls,
			   start, nt);
	if (r < 0)
		dune_thread_free(nt);
	return r;
}

/* fork-like clone: the child process continues this host loop with a fresh vCPU. */
static long clone_process(struct dune_thread *t, unsigned long flags, uint64_t ptid,
			  uint64_t ctid, uint64_t tls, const struct dune_tf *ctf, bool *child)
{
	long pid = host_syscall6(SYS_clone, (long)flags, 0, (long)ptid, (long)ctid, (long)tls, 0);
	long r;

	if (pid != 0)
		return pid;
	*child = true;
	dune_pt_lock_reset();
	dune_page_lock_reset();
	dune_sigact_lock = 0;
	/* A fresh context: the child gets its own VM instead of sharing the parent's. */
	r = dune_be->fork_child(dune_fd);
	if (r < 0) {
		dune_printf("dune: fork child cannot create its own %s context: %ld\n", dune_be->name, r);
		dune_host_exit_group(DUNE_EXIT_VMEXIT);
	}
	t->be.fd = t->be.stats_fd = t->be.slot = -1;	/* the parent's vCPU stays the parent's */
	t->be.timer = -1;				/* POSIX timers are not inherited */
	t->be.run = NULL;
	t->pending = 0;
	t->boot_tf = *ctf;
	dune_thread_setup_gdt(t);
	dune_thread_prepare_boot(t);
	return 0;
}

long dune_do_clone(struct dune_thread *t, unsigned long flags, uint64_t newsp, uint64_t ptid,
		   uint64_t ctid, uint64_t tls, bool *child, void (*start)(void *))
{
	struct dune_tf ctf;

	child_state(t, newsp, &ctf);
	if ((flags & CLONE_VM) && !(flags & CLONE_VFORK))
		return clone_thread(t, flags, newsp, ptid, ctid, tls, &ctf, start);
	/* fork, vfork (done as fork: the parent does not wait) and clone without CLONE_VM */
	return clone_process(t, flags & ~(unsigned long)(CLONE_VM | CLONE_VFORK), ptid, ctid, tls, &ctf, child);
}
