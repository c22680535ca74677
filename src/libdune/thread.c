/*
 * thread.c - a Dune thread's memory block (host-loop stack, IST stacks, the
 * struct dune_thread with its FPU save area), its GDT/TSS, the guest state a
 * new vCPU boots into, and the end of the thread.  Host side only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "internal.h"
#include "maps.h"

__thread struct dune_thread *dune_self __attribute__((tls_model("initial-exec")));

#define ROUND_UP(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define IS_ERR_VAL(r)	((unsigned long)(r) >= (unsigned long)-4095L)

static size_t thread_struct_size(void)
{
	return ROUND_UP(sizeof(struct dune_thread) + 64 + dune_fpu_size, PGSIZE);
}

struct dune_thread *dune_thread_alloc(void)
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
	t->fpu_live = false;
	t->be.fd = -1;
	t->be.stats_fd = -1;
	t->be.slot = -1;
	t->be.timer = -1;

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

void dune_thread_unmap_guest(struct dune_thread *t)
{
	uint64_t fl = dune_pt_lock();

	pt_unmap(&dune_pt, t->guest_start, (uintptr_t)t->block + t->block_size - t->guest_start);
	dune_pt_unlock(fl);
	__atomic_add_fetch(&dune_tlb_gen, 1, __ATOMIC_SEQ_CST);
}

void dune_thread_free(struct dune_thread *t)
{
	dune_thread_unmap_guest(t);
	host_syscall6(SYS_munmap, (long)t->block, (long)t->block_size, 0, 0, 0, 0);
}

/* Per-thread GDT (Linux-compatible selectors) and 64-bit TSS with IST stacks. */
void dune_thread_setup_gdt(struct dune_thread *t)
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
void dune_thread_prepare_boot(struct dune_thread *t)
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

/* The thread leaves: no signal may land on the stack we are about to unmap. */
void dune_thread_exit(struct dune_thread *t, long status)
{
	uint64_t all = ~0ULL;

	host_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, 8, 0, 0);
	dune_be->vcpu_release(t);
	dune_thread_unmap_guest(t);
	dune_self = NULL;
	dune_exit_unmap(t->block, t->block_size, status);
}

/* The very first DUNE_ENTER failed: return err from dune_enter() on the host. */
void dune_thread_first_entry_failed(struct dune_thread *t, long err)
{
	uint64_t *saved = t->enter_saved;

	dune_be->vcpu_release(t);
	dune_thread_unmap_guest(t);
	dune_self = NULL;
	dune_host_return(saved, err, t->block, t->block_size);
}

/*
 * The thread block for dune_enter(): the guest starts by returning 0 from
 * dune_enter() with the caller's callee-saved registers (saved[0..5] = r15 r14
 * r13 r12 rbx rbp, saved[6] = return address).
 */
struct dune_thread *dune_thread_for_enter(uint64_t *saved)
{
	struct dune_thread *t;

	/*
	 * A thread created after dune_init() (from host mode) has a stack the
	 * mirror has not seen yet: map it (with its TLS) before the guest uses it.
	 */
	if (dune_map_full && dune_sync_from_maps((uintptr_t)saved, (uintptr_t)saved + 1, false))
		return NULL;
	t = dune_thread_alloc();
	if (!t)
		return NULL;
	dune_thread_setup_gdt(t);
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
	dune_thread_prepare_boot(t);
	t->enter_saved = saved;
	/* The guest's FPU state: the caller's, as it is now. */
	dune_fpu_save(t->fpu, t->fpu_mode);
	return t;
}
