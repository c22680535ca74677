/*
 * mirror.c - the guest page table as a mirror of the host address space:
 * built from /proc/self/maps at dune_init(), kept up to date after every
 * address-space syscall the guest makes (the host loop calls
 * dune_mirror_syscall()), and repaired lazily on not-present faults
 * (DUNE_VMCALL_PGFLT_SYNC).  See README "Guest page table".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "maps.h"
#include "page.h"

#define ROUND_UP(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define IS_ERR_VAL(r)	((unsigned long)(r) >= (unsigned long)-4095L)

static uintptr_t cur_brk;


static uint64_t prot_to_pte(int prot, bool user)
{
	uint64_t f = PTE_P;

	if (prot & MAPS_W)
		f |= PTE_W;
	if (!(prot & MAPS_X))
		f |= PTE_NX;
	if (user)
		f |= PTE_U;
	return f;
}

int dune_map_range_locked(uintptr_t va, size_t len, int prot, bool user)
{
	uintptr_t end;
	int ret = 0;

	len += va & (PGSIZE - 1);
	va &= ~(PGSIZE - 1);
	len = (len + PGSIZE - 1) & ~(PGSIZE - 1);
	if (va >= VA_USER_LIMIT)
		return -EFAULT;
	if (len > VA_USER_LIMIT - va)
		len = VA_USER_LIMIT - va;
	end = va + len;
	if (!(prot & (MAPS_R | MAPS_W | MAPS_X)))
		return pt_unmap(&dune_pt, va, len);
	while (va < end) {
		uint64_t n = dune_layout_contig(&dune_layout, va, end - va);
		int r;

		if (!n) {
			/* not representable in guest-physical space: leave it unmapped */
			ret = -EFAULT;
			va += PGSIZE;
			continue;
		}
		r = pt_map(&dune_pt, va, n, dune_layout_va_to_pa(&dune_layout, va), prot_to_pte(prot, user));
		if (r)
			return r;
		va += n;
	}
	return ret;
}

/* Read /proc/self/maps into a fresh mmap'd buffer (raw syscalls only). */
static char *read_maps(size_t *len_out, size_t *cap_out)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = NULL;
	long fd;

	for (;;) {
		buf = (char *)host_or_guest_mmap(cap);
		if (!buf)
			return NULL;
		fd = dune_syscall6(SYS_open, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0, 0, 0, 0);
		if (fd < 0) {
			host_or_guest_munmap(buf, cap);
			return NULL;
		}
		len = 0;
		for (;;) {
			long n = dune_syscall6(SYS_read, fd, (long)(buf + len), (long)(cap - len), 0, 0, 0);

			if (n == -EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
			if (len == cap)
				break;
		}
		dune_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
		if (len < cap)
			break;
		host_or_guest_munmap(buf, cap);
		cap *= 4;
	}
	*len_out = len;
	*cap_out = cap;
	return buf;
}

struct sync_arg {
	uintptr_t start, end;	/* 0,0: everything */
	bool user;		/* map with PTE_U */
	int ret;
};

static int sync_one(const struct maps_entry *e, void *p)
{
	struct sync_arg *a = p;
	int r;

	if (a->end && (e->end <= a->start || e->start >= a->end))
		return 0;
	if (e->kind == MAPS_KIND_VSYSCALL || e->start >= VA_USER_LIMIT)
		return 0;	/* legacy vsyscall page: above the user half; glibc does not use it */
	r = dune_map_range_locked(e->start, e->end - e->start, e->prot, a->user);
	if (r == -EFAULT) {
		dune_printf("dune: warning: %lx-%lx (%.*s) has no guest-physical address; left unmapped\n",
			    (unsigned long)e->start, (unsigned long)e->end, (int)e->path_len, e->path);
		r = 0;
	}
	if (r && !a->ret)
		a->ret = r;
	return 0;
}

int dune_sync_from_maps(uintptr_t start, uintptr_t end, bool user)
{
	struct sync_arg a = { start, end, user, 0 };
	size_t len, cap;
	char *buf = read_maps(&len, &cap);
	uint64_t fl;

	if (!buf)
		return -ENOMEM;
	fl = dune_pt_lock();
	if (maps_parse(buf, len, sync_one, &a) < 0 && !a.ret)
		a.ret = -EINVAL;
	dune_pt_unlock(fl);
	host_or_guest_munmap(buf, cap);
	return a.ret;
}

/* Find the VMA containing addr (MAPS_* prot in *prot); 0 or -ENOENT. */
struct find_arg {
	uintptr_t addr;
	struct maps_entry e;
	bool found;
	uintptr_t stack_start;
};

static int find_one(const struct maps_entry *e, void *p)
{
	struct find_arg *a = p;

	if (e->kind == MAPS_KIND_STACK)
		a->stack_start = e->start;
	if (a->addr >= e->start && a->addr < e->end) {
		a->e = *e;
		a->found = true;
	}
	return 0;
}

int dune_find_vma(uintptr_t addr, uintptr_t *start, uintptr_t *end, int *prot, uintptr_t *stack_start)
{
	struct find_arg a;
	size_t len, cap;
	char *buf = read_maps(&len, &cap);

	if (!buf)
		return -ENOMEM;
	memset(&a, 0, sizeof(a));
	a.addr = addr;
	maps_parse(buf, len, find_one, &a);
	host_or_guest_munmap(buf, cap);
	if (stack_start)
		*stack_start = a.stack_start;
	if (!a.found)
		return -ENOENT;
	*start = a.e.start;
	*end = a.e.end;
	*prot = a.e.prot;
	return 0;
}


/* -------------------------------------------------------------- stack */

/*
 * The main thread's stack grows on demand on the host, but a guest access
 * below the mapped part would fault with no way to copy the trap frame (it
 * goes on that same stack).  Grow it up front (read accesses only map the
 * zero page) so the guest sees most of RLIMIT_STACK.
 */
#define STACK_PREGROW_MAX	(8UL << 20)

void __attribute__((noinline)) dune_pregrow_stack(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t start, end, stack_start, target, a;
	struct rlimit rl;
	uint64_t want;
	int prot;

	if (dune_find_vma(sp, &start, &end, &prot, &stack_start) || start != stack_start)
		return;		/* not on the main thread's [stack] */
	if (getrlimit(RLIMIT_STACK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		want = STACK_PREGROW_MAX;
	else
		want = rl.rlim_cur > STACK_PREGROW_MAX ? STACK_PREGROW_MAX : rl.rlim_cur;
	want = want > 256 * 1024 ? want - 256 * 1024 : 0;	/* margin for args/env/auxv */
	if (end - start >= want)
		return;
	target = end - want;
	for (a = start - PGSIZE; a >= target; a -= PGSIZE)
		(void)*(volatile char *)a;
}


/* ------------------------------------------------- syscalls, faults */

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
bool dune_from_ring3(const struct dune_config *c)
{
	const struct dune_tf *tf = (const struct dune_tf *)(uintptr_t)c->r12;
	uint64_t cs;

	return tf && !dune_host_copy(&cs, &tf->cs, sizeof(cs)) && (cs & 3);
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
long dune_pgflt_sync_host(uintptr_t addr)
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

/*
 * An address-space syscall of the guest (mmap, munmap, mprotect,
 * pkey_mprotect, mremap, brk, shmat, shmdt, and libdune's own
 * DUNE_VMCALL_PGFLT_SYNC): run it on the host and mirror its effect in the
 * guest page table.  *flush: the guest must flush its TLB.
 */
long dune_mirror_syscall(const struct dune_config *c, bool *flush)
{
	long nr = (long)c->rax;
	long a0 = (long)c->rdi, a1 = (long)c->rsi, a2 = (long)c->rdx;
	long a3 = (long)c->r10, a4 = (long)c->r8, a5 = (long)c->r9;
	uintptr_t s, e;
	int prot;
	long ret;

	*flush = false;
	switch (nr) {
	case SYS_mmap:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !IS_ERR_VAL(ret)) {
			mirror((uintptr_t)ret, (uint64_t)a1, (int)a2, dune_from_ring3(c));
			*flush = (a3 & MAP_FIXED) != 0;
		}
		return ret;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !ret) {
			mirror((uintptr_t)a0, (uint64_t)a1, (int)a2, dune_from_ring3(c));
			*flush = true;
		}
		return ret;
	case SYS_munmap:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !ret) {
			unmirror((uintptr_t)a0, (uint64_t)a1);
			*flush = true;
		}
		return ret;
	case SYS_mremap:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !IS_ERR_VAL(ret)) {
			unmirror((uintptr_t)a0, (uint64_t)a1);
			dune_sync_from_maps((uintptr_t)ret, (uintptr_t)ret + (uint64_t)a2, dune_from_ring3(c));
			*flush = true;
		}
		return ret;
	case SYS_brk:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && (uintptr_t)ret != cur_brk) {
			brk_update((uintptr_t)ret, dune_from_ring3(c));
			*flush = true;
		}
		return ret;
	case SYS_shmat:
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (dune_map_full && !IS_ERR_VAL(ret))
			dune_sync_from_maps((uintptr_t)ret, (uintptr_t)ret + 1, dune_from_ring3(c));
		return ret;
	case SYS_shmdt:
		if (!dune_map_full || dune_find_vma((uintptr_t)a0, &s, &e, &prot, NULL))
			s = e = 0;
		ret = host_syscall6(nr, a0, a1, a2, a3, a4, a5);
		if (!ret && e > s) {
			unmirror(s, e - s);
			*flush = true;
		}
		return ret;
	case DUNE_VMCALL_PGFLT_SYNC:
		*flush = true;
		return dune_pgflt_sync_host((uintptr_t)a0);
	default:
		return -ENOSYS;
	}
}
