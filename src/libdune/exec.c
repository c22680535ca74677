/*
 * exec.c - dune_exec_user(): run an x86-64 ELF program in ring 3 under the
 * calling Dune thread and serve its system calls, as a tiny kernel would.
 *
 * The program is loaded into this process (elf.c), gets a fresh stack built
 * as execve builds it, a program break of its own and its own FS base (TLS),
 * and runs at CPL3 with dune_jump_to_user().  Only its own memory is PTE_U
 * (its image, stack and break, given here; what it maps itself, by the
 * mirror): the rest of the process, libdune included, is out of its reach.  Its SYSCALLs reach
 * exec_syscall() in ring 0: first the caller's filter (the sandbox policy),
 * then the calls that touch per-thread or per-process state which is really
 * libdune's here (exit, brk, arch_prctl, set_tid_address, robust lists, rseq,
 * signal handlers, new threads and processes) are emulated or refused;
 * everything else runs on the host unchanged.  An exception the program does
 * not survive ends the run with 128 + signal, as a shell reports it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

#include "internal.h"
#include "dune_elf.h"

#define EXEC_STACK_SIZE	(8UL << 20)	/* Linux's default RLIMIT_STACK */
#define EXEC_BRK_MAX	(256UL << 20)	/* address space kept free after the program for brk */
#define EXEC_RESERVE	(1UL << 30)	/* where a PIE goes: program + brk fit in it */
#define PAGE_UP(x)	(((x) + PGSIZE - 1) & ~(uintptr_t)(PGSIZE - 1))

struct exec_run {
	dune_exec_filter filter;
	void *filter_arg;
	dune_syscall_cb prev_handler;	/* whoever handled syscalls before this run */
	uintptr_t brk_start, brk_cur, brk_end;	/* brk_end == brk_start: brk cannot grow */
	int status;
};

static __thread struct exec_run *cur_run __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------ ring-3 memory access */

/*
 * Is [addr, addr+len) ring-3 memory the program may read (or write)?  A
 * pointer it passes must not let it make ring 0 touch libdune-private pages
 * or fault.  Ring 3's memory is mirrored (with PTE_U) when it is made, so a
 * page that is not present is not the program's.
 */
static bool user_access_ok(uintptr_t addr, size_t len, bool write)
{
	uintptr_t va, end = addr + len;

	if (end < addr || end > VA_USER_LIMIT)
		return false;
	for (va = addr & ~(uintptr_t)(PGSIZE - 1); va < end; va += PGSIZE) {
		uint64_t need = PTE_P | PTE_U | (write ? PTE_W : 0);
		ptent_t *pte;

		if (dune_vm_lookup(pgroot, (void *)va, CREATE_NONE, &pte) || (*pte & need) != need)
			return false;
	}
	return true;
}

/* Make memory ring 0 mapped for the program reachable from ring 3 (PTE_U), TLB flushed. */
static int give_to_ring3(uintptr_t va, size_t len)
{
	int r = dune_vm_set_user(pgroot, (void *)va, len, true);

	dune_flush_tlb();
	return r;
}

/* -------------------------------------------------- emulated syscalls */

/* brk inside the reserved range after the program: grow by mprotect, shrink by discarding */
static uint64_t exec_brk(struct exec_run *run, uintptr_t want)
{
	uintptr_t old_top = PAGE_UP(run->brk_cur), new_top = PAGE_UP(want);

	if (want < run->brk_start || want > run->brk_end)
		return run->brk_cur;	/* Linux: the unchanged break means failure */
	if (new_top > old_top) {
		/* mprotect from ring 0 mirrors without PTE_U: hand the pages to ring 3 */
		if (mprotect((void *)old_top, new_top - old_top, PROT_READ | PROT_WRITE) ||
		    give_to_ring3(old_top, new_top - old_top))
			return run->brk_cur;
	} else if (new_top < old_top) {
		if (mmap((void *)new_top, old_top - new_top, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
			return run->brk_cur;
	}
	run->brk_cur = want;
	return want;
}

/* FS is ring 3's own (its TLS); GS is not offered */
static long exec_arch_prctl(int code, uintptr_t addr)
{
	uint64_t fs;

	switch (code) {
	case ARCH_SET_FS:
		return dune_set_ring3_fs(addr);
	case ARCH_GET_FS:
		if (!user_access_ok(addr, sizeof(fs), true))
			return -EFAULT;
		fs = dune_get_ring3_fs();
		memcpy((void *)addr, &fs, sizeof(fs));
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * A handler would be called in ring 0 by libdune's signal delivery: only
 * SIG_DFL/SIG_IGN (and queries) go to the host.
 */
static void exec_sigaction(struct dune_tf *tf)
{
	uintptr_t act = ARG1(tf);
	void *handler;

	if (act) {
		if (!user_access_ok(act, sizeof(handler), false)) {
			tf->rax = (uint64_t)-EFAULT;
			return;
		}
		memcpy(&handler, (const void *)act, sizeof(handler));
		if (handler != SIG_DFL && handler != SIG_IGN) {
			tf->rax = (uint64_t)-ENOSYS;
			return;
		}
	}
	if (ARG2(tf) && !user_access_ok(ARG2(tf), sizeof(struct k_sigaction), true)) {
		tf->rax = (uint64_t)-EFAULT;
		return;
	}
	dune_passthrough_syscall(tf);
}

static void __attribute__((noreturn)) exec_end(struct exec_run *run, int status)
{
	run->status = status;
	dune_ret_from_user(0);
}

/* The syscall handler while a program runs (registered by dune_exec_user). */
static void exec_syscall(struct dune_tf *tf)
{
	struct exec_run *run = cur_run;

	if (!run || !(tf->cs & 3)) {
		/* ring-0 code (handlers, other threads) keeps its usual handling */
		if (run && run->prev_handler)
			run->prev_handler(tf);
		else
			dune_passthrough_syscall(tf);
		return;
	}
	if (run->filter && run->filter(tf, run->filter_arg))
		return;
	switch (tf->rax) {
	case SYS_exit:
	case SYS_exit_group:
		exec_end(run, (int)(ARG0(tf) & 0xff));
	case SYS_brk:
		tf->rax = exec_brk(run, ARG0(tf));
		return;
	case SYS_arch_prctl:
		tf->rax = (uint64_t)exec_arch_prctl((int)ARG0(tf), ARG1(tf));
		return;
	case SYS_set_tid_address:
		/* the clear-child-tid word belongs to the host thread: not handed to the program */
		tf->rax = (uint64_t)dune_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0);
		return;
	case SYS_set_robust_list:
	case SYS_rseq:
		/* per-thread kernel registrations; glibc runs without them when they fail */
		tf->rax = (uint64_t)-ENOSYS;
		return;
	case SYS_rt_sigaction:
		exec_sigaction(tf);
		return;
	case SYS_rt_sigreturn:
		dune_printf("dune: ring-3 program called rt_sigreturn without a signal frame\n");
		exec_end(run, 128 + SIGSEGV);
	case SYS_clone:
	case SYS_clone3:
	case SYS_fork:
	case SYS_vfork:
	case SYS_execve:
	case SYS_execveat:
		tf->rax = (uint64_t)-ENOSYS;	/* one program, one thread */
		return;
	default:
		dune_passthrough_syscall(tf);
		return;
	}
}

/* ------------------------------------------------------------ loading */

/* Keep [brk, brk + EXEC_BRK_MAX) free for the program's break (PROT_NONE until brk grows). */
static void reserve_brk(struct exec_run *run, uintptr_t brk)
{
	void *p = mmap((void *)brk, EXEC_BRK_MAX, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	run->brk_start = run->brk_cur = run->brk_end = brk;
	if (p == (void *)brk)
		run->brk_end = brk + EXEC_BRK_MAX;
	else if (p != MAP_FAILED)
		munmap(p, EXEC_BRK_MAX);	/* placed elsewhere: no room for brk */
}

/* A base for a PIE with room for its break: a free range mmap found, released again. */
static uint64_t pick_pie_base(void)
{
	void *p = mmap(NULL, EXEC_RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return 0;
	munmap(p, EXEC_RESERVE);
	return (uint64_t)(uintptr_t)p;
}

static void unload(const struct dune_elf_image *img, const struct exec_run *run, void *stack)
{
	munmap((void *)(uintptr_t)img->prog.start, img->prog.end - img->prog.start);
	if (img->has_interp)
		munmap((void *)(uintptr_t)img->interp.start, img->interp.end - img->interp.start);
	if (run->brk_end > run->brk_start)
		munmap((void *)run->brk_start, run->brk_end - run->brk_start);
	if (stack)
		munmap(stack, EXEC_STACK_SIZE);
}

static int run_status(int jump_ret, const struct exec_run *run, int *status)
{
	if (jump_ret == 0) {
		*status = run->status;
		return 0;
	}
	if (jump_ret > DUNE_USER_FAULT_BASE && jump_ret < DUNE_USER_FAULT_BASE + 128) {
		*status = 128 + (jump_ret - DUNE_USER_FAULT_BASE);	/* killed by an exception */
		return 0;
	}
	return jump_ret < 0 ? jump_ret : -EINVAL;
}

int dune_exec_user(const char *path, char *const argv[], char *const envp[],
		   dune_exec_filter filter, void *filter_arg, int *status)
{
	struct dune_elf_stack_params params;
	struct dune_elf_image img;
	struct exec_run run;
	struct dune_tf tf;
	void *stack;
	uint64_t sp;
	int argc = 0, ret;

	if (!dune_in_guest() || !dune_self)
		return -EPERM;
	if (!dune_map_full)
		return -EINVAL;		/* the program's own mmaps must be mirrored */
	if (cur_run || dune_user_active())
		return -EBUSY;
	if (!path || !argv || !status)
		return -EFAULT;
	while (argv[argc])
		argc++;

	memset(&run, 0, sizeof(run));
	ret = dune_elf_load_program(path, pick_pie_base(), 0, &img);
	if (ret)
		return ret;
	reserve_brk(&run, img.brk);
	stack = mmap(NULL, EXEC_STACK_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		unload(&img, &run, NULL);
		return -ENOMEM;
	}
	dune_elf_default_params(&params, argc, argv, envp ? envp : (char *const[]){ NULL }, path);
	ret = dune_elf_build_stack(&img, &params, stack, (uintptr_t)stack, EXEC_STACK_SIZE, &sp);
	if (!ret)
		ret = give_to_ring3(img.prog.start, img.prog.end - img.prog.start);
	if (!ret && img.has_interp)
		ret = give_to_ring3(img.interp.start, img.interp.end - img.interp.start);
	if (!ret)
		ret = give_to_ring3((uintptr_t)stack, EXEC_STACK_SIZE);
	if (ret) {
		unload(&img, &run, stack);
		return ret;
	}

	/* execve's register state: everything 0 but rip/rsp (rdx = 0: no atexit function) */
	memset(&tf, 0, sizeof(tf));
	tf.rip = img.entry;
	tf.rsp = sp;
	run.filter = filter;
	run.filter_arg = filter_arg;
	run.prev_handler = dune_syscall_handler;
	cur_run = &run;
	dune_register_syscall_handler(exec_syscall);
	dune_set_ring3_fs(0);
	ret = dune_jump_to_user(&tf);
	dune_register_syscall_handler(run.prev_handler);
	cur_run = NULL;

	unload(&img, &run, stack);
	return run_status(ret, &run, status);
}
