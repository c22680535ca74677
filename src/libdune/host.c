/*
 * host.c - the host side of libdune: per-thread state, dune_enter(), the
 * host loop that runs every guest syscall (DUNE_RET_SYSCALL), thread and
 * process creation, exits, page-table mirroring of address-space changes,
 * and host signal handling.  Everything here runs in host mode (CPL3) on
 * the thread's private host-loop stack, never on the guest's stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "page.h"
#include "maps.h"

__thread struct dune_thread *dune_self __attribute__((tls_model("initial-exec")));
struct k_sigaction dune_guest_sigact[DUNE_MAX_SIG + 1];

void dune_sigreturn_tramp(void) HIDDEN;
void dune_host_return(uint64_t *saved, long value, void *unmap, size_t len) HIDDEN __attribute__((noreturn));

#define IS_ERR_VAL(r)	((unsigned long)(r) >= (unsigned long)-4095L)
#define ROUND_UP(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define VMCALL_LEN	3	/* 0f 01 c1 */
#ifndef SA_RESTORER
#define SA_RESTORER	0x04000000
#endif

static volatile int sigact_lock;
static uintptr_t cur_brk;

static void __attribute__((noreturn)) host_exit_group(long status)
{
	for (;;)
		host_syscall6(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

static void spin_lock(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			__builtin_ia32_pause();
}

static void spin_unlock(volatile int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Copy between buffers that may be bad guest pointers, without faulting the host loop. */
static int host_copy(void *dst, const void *src, size_t n)
{
	struct iovec l = { dst, n }, r = { (void *)src, n };
	long pid = host_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
	long got = host_syscall6(SYS_process_vm_readv, pid, (long)&l, 1, (long)&r, 1, 0);

	if (got == -ENOSYS || got == -EPERM) {	/* syscall filtered: trust the pointers */
		memcpy(dst, src, n);
		return 0;
	}
	return got == (long)n ? 0 : -EFAULT;
}

/* ------------------------------------------------------- thread blocks */

static size_t thread_struct_size(void)
{
	return ROUND_UP(sizeof(struct dune_thread) + 64 + dune_fpu_size, PGSIZE);
}

static struct dune_thread *alloc_thread(void)
{
	size_t guest_sz = NR_IST * IST_STACK_SIZE + thread_struct_size();
	size_t sz = PGSIZE + HOST_STACK_SIZE + PGSIZE + guest_sz;
	long r = host_syscall6(SYS_mmap, 0, (long)sz, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dune_thread *t;
	uint8_t *b, *ist;
	uint64_t fl;
	int i, ret;

	if (IS_ERR_VAL(r))
		return NULL;
	b = (uint8_t *)r;
	host_syscall6(SYS_mprotect, (long)b, PGSIZE, PROT_NONE, 0, 0, 0);
	host_syscall6(SYS_mprotect, (long)(b + PGSIZE + HOST_STACK_SIZE), PGSIZE, PROT_NONE, 0, 0, 0);
	ist = b + 2 * PGSIZE + HOST_STACK_SIZE;
	t = (struct dune_thread *)(ist + NR_IST * IST_STACK_SIZE);
	t->block = b;
	t->block_size = sz;
	t->guest_start = (uintptr_t)ist;
	t->host_stack_top = (uintptr_t)(b + PGSIZE + HOST_STACK_SIZE);
	for (i = 1; i <= NR_IST; i++)
		t->ist_top[i] = (uintptr_t)(ist + i * IST_STACK_SIZE);
	t->fpu = (uint8_t *)(((uintptr_t)(t + 1) + 63) & ~(uintptr_t)63);
	t->fpu_mode = dune_fpu_mode;

	fl = dune_pt_lock();
	ret = dune_map_range_locked(t->guest_start, guest_sz, MAPS_R | MAPS_W, false);
	dune_pt_unlock(fl);
	if (ret) {
		dune_printf("dune: cannot map thread state in the guest: %d\n", ret);
		host_syscall6(SYS_munmap, (long)b, (long)sz, 0, 0, 0, 0);
		return NULL;
	}
	return t;
}

static void unmap_thread_guest(struct dune_thread *t)
{
	uint64_t fl = dune_pt_lock();

	pt_unmap(&dune_pt, t->guest_start, (uintptr_t)t->block + t->block_size - t->guest_start);
	dune_pt_unlock(fl);
	__atomic_add_fetch(&dune_tlb_gen, 1, __ATOMIC_SEQ_CST);
}

static void free_thread(struct dune_thread *t)
{
	unmap_thread_guest(t);
	host_syscall6(SYS_munmap, (long)t->block, (long)t->block_size, 0, 0, 0, 0);
}

/* Per-thread GDT (Linux-compatible selectors) and 64-bit TSS with IST stacks. */
static void setup_gdt(struct dune_thread *t)
{
	uint64_t base = (uintptr_t)&t->tss, limit = sizeof(t->tss) - 1;

	memset(t->gdt, 0, sizeof(t->gdt));
	t->gdt[GD_KT >> 3] = 0x00AF9A000000FFFFULL;	/* 64-bit code, DPL0 */
	t->gdt[GD_KD >> 3] = 0x00CF92000000FFFFULL;	/* data, DPL0 */
	t->gdt[GD_UT32 >> 3] = 0x00CFFA000000FFFFULL;	/* 32-bit code, DPL3 */
	t->gdt[GD_UD >> 3] = 0x00CFF2000000FFFFULL;	/* data, DPL3 */
	t->gdt[GD_UT >> 3] = 0x00AFFA000000FFFFULL;	/* 64-bit code, DPL3 */
	/* available 64-bit TSS (type 9): also clears a busy bit left by a previous ltr */
	t->gdt[GD_TSS >> 3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) |
			      (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
	t->gdt[(GD_TSS >> 3) + 1] = base >> 32;

	memset(&t->tss, 0, sizeof(t->tss));
	t->tss.rsp[0] = t->ist_top[1];	/* for a future CPL3 -> CPL0 switch */
	t->tss.ist[0] = t->ist_top[1];	/* IST1 */
	t->tss.ist[1] = t->ist_top[2];	/* IST2 */
	t->tss.ist[2] = t->ist_top[3];	/* IST3 */
	t->tss.ist[3] = t->ist_top[4];	/* IST4 */
	t->tss.iomap_base = sizeof(t->tss);

	t->gdtr.limit = sizeof(t->gdt) - 1;
	t->gdtr.base = (uintptr_t)t->gdt;
}

/* Point conf at __dune_boot for a new vCPU; boot_tf holds the state to start in. */
static void prepare_boot(struct dune_thread *t)
{
	memset(&t->conf, 0, sizeof(t->conf));
	t->conf.rip = (uintptr_t)__dune_boot;
	t->conf.rsp = t->ist_top[1];
	t->conf.rflags = X86_EFLAGS_FIXED;
	t->conf.cr3 = dune_pt.root_pa;
	t->conf.rdi = (uintptr_t)&t->gdtr;
	t->conf.rsi = (uintptr_t)&t->boot_tf;
	t->conf.vcpu = 0;
	t->boot_tf.trapno = 0;
	t->boot_tf.err = 0;
	t->boot_tf.cs = GD_KT;
	t->boot_tf.ss = GD_KD;
	t->tlb_gen = dune_tlb_gen;
}

/* --------------------------------------------------------------- signals */

static bool is_handler(void *h)
{
	return h != SIG_DFL && h != SIG_IGN;
}

static void host_sig_handler(int sig, siginfo_t *si, void *uc)
{
	struct dune_thread *t = dune_self;
	struct k_sigaction *ka;

	if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	     sig == SIGTRAP || sig == SIGSYS) && si->si_code > 0) {
		/* A fault in host code (libdune itself): let it kill the process. */
		struct k_sigaction dfl = { SIG_DFL, 0, NULL, 0 };

		host_syscall6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
		return;
	}
	if (!t) {
		/* Not a Dune thread (created before dune_enter): run the handler here, as Linux would. */
		ka = &dune_guest_sigact[sig];
		if (!is_handler(ka->handler))
			return;
		if (ka->flags & SA_SIGINFO)
			((void (*)(int, siginfo_t *, void *))ka->handler)(sig, si, uc);
		else
			((void (*)(int))ka->handler)(sig);
		return;
	}
	t->siginfo[sig] = *si;
	__atomic_or_fetch(&t->pending, 1ULL << sig, __ATOMIC_SEQ_CST);
}

static long install_recorder(int sig)
{
	struct k_sigaction ka = {
		.handler = (void *)host_sig_handler,
		.flags = SA_SIGINFO | SA_RESTORER,	/* no SA_RESTART: see maybe_restart() */
		.restorer = (void *)dune_sigreturn_tramp,
		.mask = ~0ULL,
	};

	return host_syscall6(SYS_rt_sigaction, sig, (long)&ka, 0, 8, 0, 0);
}

int dune_host_signals_init(void)
{
	int sig;

	for (sig = 1; sig <= DUNE_MAX_SIG; sig++) {
		struct k_sigaction cur;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		memset(&cur, 0, sizeof(cur));
		if (host_syscall6(SYS_rt_sigaction, sig, 0, (long)&cur, 8, 0, 0))
			continue;
		dune_guest_sigact[sig] = cur;
		if (is_handler(cur.handler) && install_recorder(sig))
			return -EINVAL;
	}
	return 0;
}

/* rt_sigaction from the guest: the guest's dispositions live in
 * dune_guest_sigact; the host gets libdune's recorder for real handlers. */
static long guest_rt_sigaction(long sig, const struct k_sigaction *act, struct k_sigaction *oact, long size)
{
	struct k_sigaction nka, old;
	long r = 0;

	if (size != 8 || sig < 1 || sig > DUNE_MAX_SIG || sig == SIGKILL || sig == SIGSTOP)
		return host_syscall6(SYS_rt_sigaction, sig, (long)act, (long)oact, size, 0, 0);
	if (act && host_copy(&nka, act, sizeof(nka)))
		return -EFAULT;
	spin_lock(&sigact_lock);
	old = dune_guest_sigact[sig];
	if (act) {
		if (is_handler(nka.handler))
			r = install_recorder((int)sig);
		else
			r = host_syscall6(SYS_rt_sigaction, sig, (long)&nka, 0, 8, 0, 0);
		if (!r)
			dune_guest_sigact[sig] = nka;
	}
	spin_unlock(&sigact_lock);
	if (r)
		return r;
	if (oact && host_copy(oact, &old, sizeof(old)))
		return -EFAULT;
	return 0;
}

static void queue_pending(struct dune_thread *t)
{
	uint64_t p;

	if (!t->conf.vcpu || !t->pending)
		return;		/* no vCPU yet: keep them for after the first entry */
	p = __atomic_exchange_n(&t->pending, 0, __ATOMIC_SEQ_CST);
	while (p) {
		int sig = __builtin_ctzll(p);
		__u32 vec = DUNE_SIGNAL_INTR_BASE + sig;
		long r;

		p &= p - 1;
		r = host_syscall6(SYS_ioctl, dune_fd, DUNE_QUEUE_INTR, (long)&vec, 0, 0, 0);
		if (r < 0)
			dune_printf("dune: DUNE_QUEUE_INTR(%u) failed: %ld; signal %d lost\n", vec, r, sig);
	}
}

/* Syscalls Linux restarts after a handler with SA_RESTART (they return
 * -ERESTARTSYS, which we only see as -EINTR because our host handler has no
 * SA_RESTART). */
static bool restartable(long nr)
{
	switch (nr) {
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev:
	case SYS_pread64: case SYS_pwrite64: case SYS_preadv: case SYS_pwritev:
	case SYS_ioctl: case SYS_wait4: case SYS_waitid: case SYS_open: case SYS_openat:
	case SYS_futex: case SYS_flock: case SYS_fcntl: case SYS_accept: case SYS_accept4:
	case SYS_recvfrom: case SYS_sendto: case SYS_recvmsg: case SYS_sendmsg:
	case SYS_recvmmsg: case SYS_sendmmsg: case SYS_msgrcv: case SYS_msgsnd:
	case SYS_sendfile: case SYS_splice: case SYS_tee: case SYS_vmsplice:
	case SYS_connect: case SYS_fsync: case SYS_fdatasync: case SYS_ftruncate:
		return true;
	default:
		return false;
	}
}

/* -EINTR caused by a signal whose guest handler has SA_RESTART: re-execute
 * the VMCALL after the handler, which is injected at that very instruction. */
static bool maybe_restart(struct dune_thread *t, long nr)
{
	uint64_t p = t->pending;

	if (!p || !(t->conf.rflags & X86_EFLAGS_IF) || !restartable(nr) || !t->conf.vcpu)
		return false;
	while (p) {
		int sig = __builtin_ctzll(p);

		p &= p - 1;
		if (sig > DUNE_MAX_SIG || !(dune_guest_sigact[sig].flags & SA_RESTART))
			return false;
	}
	t->conf.rip -= VMCALL_LEN;
	t->conf.rax = (uint64_t)nr;
	return true;
}

/* ------------------------------------------------------------- exits */

static void __attribute__((noreturn)) thread_exit(struct dune_thread *t, long status)
{
	uint64_t all = ~0ULL;

	/* No signal may land on the stack we are about to unmap. */
	host_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, 8, 0, 0);
	unmap_thread_guest(t);
	dune_self = NULL;
	dune_exit_unmap(t->block, t->block_size, status);
}

static void __attribute__((noreturn)) handle_exit(struct dune_thread *t, long nr, long status)
{
	if (nr == SYS_exit)
		thread_exit(t, status);
	host_exit_group(status);
}

static void dump_conf(const struct dune_config *c)
{
	dune_printf(" rip %016llx rsp %016llx rflags %016llx cr3 %016llx\n"
		    " rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		    " rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n"
		    " r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n"
		    " r13 %016llx r14 %016llx r15 %016llx\n",
		    c->rip, c->rsp, c->rflags, c->cr3, c->rax, c->rbx, c->rcx, c->rdx,
		    c->rsi, c->rdi, c->rbp, c->r8, c->r9, c->r10, c->r11, c->r12,
		    c->r13, c->r14, c->r15);
}

static void __attribute__((noreturn)) vmexit_fatal(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;
	const char *what;

	switch (c->ret) {
	case DUNE_RET_EPT_VIOLATION:
		what = "EPT violation (guest accessed memory outside the process)";
		break;
	case DUNE_RET_UNHANDLED_VMEXIT:
		what = c->status == 2 ? "triple fault" : "unhandled VM exit";
		break;
	case DUNE_RET_NOENTER:
		what = "VM entry failed";
		break;
	default:
		what = "unknown DUNE_ENTER return";
		break;
	}
	dune_printf("dune: fatal: %s (ret %lld, status/exit reason %lld), pid %ld\n", what,
		    (long long)c->ret, (long long)c->status, host_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0));
	dump_conf(c);
	host_exit_group(DUNE_EXIT_VMEXIT);
}

/* ------------------------------------------------------ clone and fork */

static void __attribute__((noreturn)) host_loop(struct dune_thread *t);

static void thread_host_main(void *arg)
{
	struct dune_thread *t = arg;

	dune_self = t;
	host_loop(t);
}

/* Guest state the child starts in: the user context of the clone syscall. */
static void child_state(struct dune_thread *t, uint64_t newsp, struct dune_tf *ctf)
{
	const struct dune_config *c = &t->conf;
	const struct dune_tf *utf = (const struct dune_tf *)(uintptr_t)c->r12;

	if (!utf || ((uintptr_t)utf & 7) || host_copy(ctf, utf, sizeof(*ctf)) ||
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
			 uint64_t ptid, uint64_t ctid, uint64_t tls, const struct dune_tf *ctf)
{
	struct dune_thread *nt;
	long r;

	if (!(flags & CLONE_SETTLS)) {
		dune_printf("dune: clone(CLONE_VM) without CLONE_SETTLS is not supported\n");
		return -EINVAL;
	}
	if (!newsp)
		return -EINVAL;
	nt = alloc_thread();
	if (!nt)
		return -ENOMEM;
	setup_gdt(nt);
	nt->boot_tf = *ctf;
	prepare_boot(nt);
	if (t->fpu_mode)
		memcpy(nt->fpu, t->fpu, dune_fpu_size);
	r = dune_raw_clone(flags, nt->host_stack_top, (void *)ptid, (void *)ctid, tls,
			   thread_host_main, nt);
	if (r < 0)
		free_thread(nt);
	return r;
}

/* fork-like clone: the child process continues this host loop with a fresh vCPU. */
static long clone_process(struct dune_thread *t, unsigned long flags, uint64_t ptid,
			  uint64_t ctid, uint64_t tls, const struct dune_tf *ctf, bool *child)
{
	long pid = host_syscall6(SYS_clone, (long)flags, 0, (long)ptid, (long)ctid, (long)tls, 0);
	long fd;

	if (pid != 0)
		return pid;
	*child = true;
	dune_pt_lock_reset();
	dune_page_lock_reset();
	sigact_lock = 0;
	/* A fresh open: the child gets its own Dune context instead of sharing the parent's file. */
	fd = host_syscall6(SYS_open, (long)"/dev/dune", O_RDWR | O_CLOEXEC, 0, 0, 0, 0);
	if (fd < 0) {
		dune_printf("dune: fork child cannot open /dev/dune: %ld\n", fd);
		host_exit_group(DUNE_EXIT_VMEXIT);
	}
	if (fd != dune_fd) {
		host_syscall6(SYS_dup3, fd, dune_fd, O_CLOEXEC, 0, 0, 0);
		host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	}
	t->pending = 0;
	t->boot_tf = *ctf;
	setup_gdt(t);
	prepare_boot(t);
	return 0;
}

static long do_clone(struct dune_thread *t, unsigned long flags, uint64_t newsp, uint64_t ptid,
		     uint64_t ctid, uint64_t tls, bool *child)
{
	struct dune_tf ctf;

	child_state(t, newsp, &ctf);
	if ((flags & CLONE_VM) && !(flags & CLONE_VFORK))
		return clone_thread(t, flags, newsp, ptid, ctid, tls, &ctf);
	/* fork, vfork (done as fork: the parent does not wait) and clone without CLONE_VM */
	return clone_process(t, flags & ~(unsigned long)(CLONE_VM | CLONE_VFORK), ptid, ctid, tls, &ctf, child);
}

/* ------------------------------------------------ address-space mirror */

void dune_brk_init(void)
{
	cur_brk = (uintptr_t)host_syscall6(SYS_brk, 0, 0, 0, 0, 0, 0);
}

/*
 * Did ring-3 code make this syscall?  Its trap frame (r12, see
 * dune_passthrough_syscall) then says CPL3.  Ring 3 reaches only PTE_U
 * pages, and memory it maps itself is its own: mirror that with PTE_U, and
 * everything mapped by ring 0 without.  r12 may be anything for libdune's
 * own raw VMCALLs: read it with host_copy, which cannot fault.
 */
static bool from_ring3(const struct dune_config *c)
{
	const struct dune_tf *tf = (const struct dune_tf *)(uintptr_t)c->r12;
	uint64_t cs;

	return tf && !host_copy(&cs, &tf->cs, sizeof(cs)) && (cs & 3);
}

static void mirror(uintptr_t va, uint64_t len, int prot, bool user)
{
	uint64_t fl;

	len = ROUND_UP(len + (va & (PGSIZE - 1)), PGSIZE);
	va &= ~(PGSIZE - 1);
	fl = dune_pt_lock();
	dune_map_range_locked(va, len, prot & (MAPS_R | MAPS_W | MAPS_X), user);
	dune_pt_unlock(fl);
}

static void unmirror(uintptr_t va, uint64_t len)
{
	uint64_t fl;

	len = ROUND_UP(len + (va & (PGSIZE - 1)), PGSIZE);
	va &= ~(PGSIZE - 1);
	if (va >= VA_USER_LIMIT)
		return;
	if (len > VA_USER_LIMIT - va)
		len = VA_USER_LIMIT - va;
	fl = dune_pt_lock();
	pt_unmap(&dune_pt, va, len);
	dune_pt_unlock(fl);
}

static void brk_update(uintptr_t nbrk, bool user)
{
	uintptr_t o = ROUND_UP(cur_brk, PGSIZE), n = ROUND_UP(nbrk, PGSIZE);
	uint64_t fl = dune_pt_lock();

	if (n > o)
		dune_map_range_locked(o, n - o, MAPS_R | MAPS_W, user);
	else if (n < o)
		pt_unmap(&dune_pt, n, o - n);
	cur_brk = nbrk;
	dune_pt_unlock(fl);
}

/* Lazy repair of a guest not-present fault at addr (DUNE_VMCALL_PGFLT_SYNC). */
static long pgflt_sync_host(uintptr_t addr)
{
	uintptr_t start, end, stack_start = 0;
	int prot, r;
	uint64_t fl;

	r = dune_find_vma(addr, &start, &end, &prot, &stack_start);
	if (r == -ENOENT && stack_start && addr < stack_start && stack_start - addr < (64UL << 20)) {
		/* below the main stack: let the host grow it (or SIGSEGV, as Linux would) */
		(void)*(volatile char *)(addr & ~(PGSIZE - 1));
		r = dune_find_vma(addr, &start, &end, &prot, &stack_start);
	}
	if (r)
		return r == -ENOENT ? -EFAULT : r;
	if (!(prot & (MAPS_R | MAPS_W | MAPS_X)))
		return -EFAULT;
	/* ring 0 only: ring 3's own mappings were mirrored (with PTE_U) when it made them */
	fl = dune_pt_lock();
	r = dune_map_range_locked(start, end - start, prot, false);
	dune_pt_unlock(fl);
	return r;
}

/* ----------------------------------------------------------- syscalls */

static void handle_syscall(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;
	long nr = (long)c->rax;
	long a0 = (long)c->rdi, a1 = (long)c->rsi, a2 = (long)c->rdx;
	long a3 = (long)c->r10, a4 = (long)c->r8, a5 = (long)c->r9;
	bool flush = false, child = false;
	uintptr_t s, e;
	int prot;
	long ret;

	switch (nr) {
	case SYS_exit:
	case SYS_exit_group:
		handle_exit(t, nr, a0);
	case SYS_clone:
		ret = do_clone(t, (unsigned long)a0, (uint64_t)a1, (uint64_t)a2, (uint64_t)a3, (uint64_t)a4, &child);
		break;
	case SYS_fork:
		ret = do_clone(t, SIGCHLD, 0, 0, 0, 0, &child);
		break;
	case SYS_vfork:
		ret = do_clone(t, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0, &child);
		break;
	case SYS_clone3:
		ret = -ENOSYS;		/* glibc falls back to clone() */
		break;
	case SYS_rt_sigaction:
		ret = guest_rt_sigaction(a0, (const struct k_sigaction *)a1, (struct k_sigaction *)a2, a3);
		break;
	case SYS_rt_sigreturn:
		ret = -ENOSYS;		/* there is no host signal frame to return to */
		break;
	case SYS_mmap:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !IS_ERR_VAL(ret)) {
			mirror((uintptr_t)ret, (uint64_t)a1, (int)a2, from_ring3(c));
			flush = (a3 & MAP_FIXED) != 0;
		}
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !ret) {
			mirror((uintptr_t)a0, (uint64_t)a1, (int)a2, from_ring3(c));
			flush = true;
		}
		break;
	case SYS_munmap:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !ret) {
			unmirror((uintptr_t)a0, (uint64_t)a1);
			flush = true;
		}
		break;
	case SYS_mremap:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !IS_ERR_VAL(ret)) {
			unmirror((uintptr_t)a0, (uint64_t)a1);
			dune_sync_from_maps((uintptr_t)ret, (uintptr_t)ret + (uint64_t)a2, from_ring3(c));
			flush = true;
		}
		break;
	case SYS_brk:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && (uintptr_t)ret != cur_brk) {
			brk_update((uintptr_t)ret, from_ring3(c));
			flush = true;
		}
		break;
	case SYS_shmat:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !IS_ERR_VAL(ret))
			dune_sync_from_maps((uintptr_t)ret, (uintptr_t)ret + 1, from_ring3(c));
		break;
	case SYS_shmdt:
		if (!dune_map_full || dune_find_vma((uintptr_t)a0, &s, &e, &prot, NULL))
			s = e = 0;
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (!ret && e > s) {
			unmirror(s, e - s);
			flush = true;
		}
		break;
	case DUNE_VMCALL_PGFLT_SYNC:
		ret = pgflt_sync_host((uintptr_t)a0);
		flush = true;
		break;
	default:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		break;
	}
	if (child)
		return;		/* fork child: conf was reset to boot a fresh vCPU */
	if (ret == -EINTR && maybe_restart(t, nr))
		return;
	c->rax = (uint64_t)ret;
	c->rcx = flush ? 1 : 0;		/* bit 0: flush the TLB (see dune_passthrough_syscall) */
	if (flush)
		__atomic_add_fetch(&dune_tlb_gen, 1, __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------- host loop */

static void __attribute__((noreturn)) first_entry_failed(struct dune_thread *t, long err)
{
	uint64_t *saved = t->enter_saved;

	unmap_thread_guest(t);
	dune_self = NULL;
	dune_host_return(saved, err, t->block, t->block_size);
}

static void __attribute__((noreturn)) host_loop(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;

	for (;;) {
		long r;

		queue_pending(t);
		r = dune_host_enter(dune_fd, DUNE_ENTER, c, t->fpu, t->fpu_mode);
		if (r < 0) {
			if (r == -EINTR)
				continue;
			if (t->enter_saved && !c->vcpu) {
				dune_printf("dune: DUNE_ENTER failed: %ld\n", r);
				first_entry_failed(t, r);
			}
			dune_printf("dune: fatal: DUNE_ENTER failed: %ld\n", r);
			dump_conf(c);
			host_exit_group(DUNE_EXIT_VMEXIT);
		}
		if (c->ret == DUNE_RET_NOENTER && t->enter_saved && !c->vcpu) {
			dune_printf("dune: could not enter Dune mode (status %lld)\n", (long long)c->status);
			first_entry_failed(t, -EIO);
		}
		t->enter_saved = NULL;

		switch (c->ret) {
		case DUNE_RET_SYSCALL:
			handle_syscall(t);
			break;
		case DUNE_RET_EXIT:
			handle_exit(t, (long)c->rax, (long)c->status);
		case DUNE_RET_SIGNAL:
		case DUNE_RET_INTERRUPT:
			break;	/* the host handler ran on the way out of the ioctl */
		default:
			vmexit_fatal(t);
		}
	}
}

static void host_loop_entry(void *arg)
{
	host_loop(arg);
}

/* Called by dune_enter (entry.S) with the caller's callee-saved registers:
 * saved[0..5] = r15 r14 r13 r12 rbx rbp, saved[6] = return address. */
int dune_enter_c(uint64_t *saved)
{
	struct dune_thread *t;

	if (cpl() == 0)
		return 0;	/* already in Dune mode */
	if (!dune_is_inited()) {
		dune_printf("dune: dune_enter() before dune_init()\n");
		return -ENODEV;
	}
	if (dune_self)
		return -EBUSY;
	t = alloc_thread();
	if (!t)
		return -ENOMEM;
	setup_gdt(t);
	memset(&t->boot_tf, 0, sizeof(t->boot_tf));
	t->boot_tf.r15 = saved[0];
	t->boot_tf.r14 = saved[1];
	t->boot_tf.r13 = saved[2];
	t->boot_tf.r12 = saved[3];
	t->boot_tf.rbx = saved[4];
	t->boot_tf.rbp = saved[5];
	t->boot_tf.rip = saved[6];
	t->boot_tf.rsp = (uintptr_t)&saved[7];
	t->boot_tf.rflags = X86_EFLAGS_FIXED | X86_EFLAGS_IF;
	t->boot_tf.rax = 0;
	prepare_boot(t);
	t->enter_saved = saved;
	dune_self = t;
	dune_fpu_save(t->fpu, t->fpu_mode);
	dune_switch_stack(t->host_stack_top, host_loop_entry, t);
}
