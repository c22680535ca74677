/*
 * dune.c - libdune core: dune_init(), building the guest page table
 * (mirroring of /proc/self/maps), the IDT.  The dune_vm_* API and the
 * page-table lock are in vm.c, the page allocator in page.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "maps.h"
#include "page.h"

int dune_fd = -1;
struct pt dune_pt;
bool dune_map_full;
volatile uint64_t dune_tlb_gen;
uint64_t dune_idt[512] __attribute__((aligned(4096)));
struct x86_dtr dune_idtr;
size_t dune_fpu_size;
int dune_fpu_mode;

dune_intr_cb dune_intr_cbs[256];
dune_pgflt_cb dune_pgflt_handler;
dune_syscall_cb dune_syscall_handler;

static bool dune_inited;

/*
 * The page allocator's region (page-table pages and dune_page_alloc()
 * pages).  MAP_NORESERVE: only pages actually used cost memory.  It is mapped
 * in the guest without PTE_U, so guest code can walk and edit page tables
 * at the same addresses as the host.
 */
#define PAGE_REGION_SIZE	(1UL << 30)

/* ---------------------------------------------------- mapping helpers */

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

static void __attribute__((noinline)) pregrow_stack(void)
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

/* ---------------------------------------------------------------- IDT */

static void idt_init(void)
{
	int i;

	for (i = 0; i < 256; i++) {
		uint64_t addr = (uint64_t)(uintptr_t)(dune_trap_stubs + i * DUNE_TRAP_STUB_SIZE);
		uint64_t ist = i == T_NMI ? 2 : i == T_DF ? 3 : i == T_MC ? 4 : 1;
		uint64_t dpl = (i == T_BP || i == T_OF) ? 3 : 0;
		uint64_t type = 0x80 | (dpl << 5) | 0xE;	/* present, 64-bit interrupt gate */

		dune_idt[2 * i] = (addr & 0xFFFF) | ((uint64_t)GD_KT << 16) | (ist << 32) |
				  (type << 40) | (((addr >> 16) & 0xFFFF) << 48);
		dune_idt[2 * i + 1] = addr >> 32;
	}
	dune_idtr.limit = sizeof(dune_idt) - 1;
	dune_idtr.base = (uint64_t)(uintptr_t)dune_idt;
}

/* ---------------------------------------------------------------- FPU */

static void fpu_init(void)
{
	uint32_t a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	if ((c & (1u << 26)) && (c & (1u << 27))) {	/* XSAVE and OSXSAVE */
		cpuid(0xD, 0, &a, &b, &c, &d);
		dune_fpu_mode = 2;
		dune_fpu_size = b;
	} else {
		dune_fpu_mode = 1;
		dune_fpu_size = 512;
	}
}

/* --------------------------------------------------------------- init */

int dune_init(bool map_full)
{
	int fd, ret;
	uint64_t fl;

	if (dune_inited)
		return 0;
	if (cpl() == 0)
		return -EBUSY;

	fd = open("/dev/dune", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		dune_printf("dune: cannot open /dev/dune: %s\n", strerror(errno));
		return ret;
	}
	if (ioctl(fd, DUNE_GET_LAYOUT, &dune_layout)) {
		ret = -errno;
		dune_printf("dune: DUNE_GET_LAYOUT failed: %s\n", strerror(errno));
		close(fd);
		return ret;
	}
	if (dune_layout.phys_limit < (GPA_MAP_SIZE + GPA_STACK_SIZE) * 2 ||
	    (dune_layout.phys_limit & (dune_layout.phys_limit - 1))) {
		dune_printf("dune: bad layout: phys_limit %llx\n", (unsigned long long)dune_layout.phys_limit);
		close(fd);
		return -EINVAL;
	}
	dune_fd = fd;
	dune_map_full = map_full;

	fpu_init();
	pregrow_stack();

	ret = dune_page_init(PAGE_REGION_SIZE);
	if (ret) {
		dune_printf("dune: cannot set up the page region: %d\n", ret);
		goto fail;
	}
	ret = pt_init(&dune_pt, &dune_vm_ops);
	if (ret)
		goto fail;
	pgroot = dune_pt.root;

	dune_brk_init();
	ret = dune_sync_from_maps(0, 0, false);	/* ring 0 only: ring 3 gets what it is given */
	if (ret) {
		dune_printf("dune: building the guest page table failed: %d\n", ret);
		goto fail;
	}
	/* the page region is libdune-private: no PTE_U */
	{
		void *base;
		size_t len;

		dune_page_region(&base, &len);
		fl = dune_pt_lock();
		ret = dune_map_range_locked((uintptr_t)base, len, MAPS_R | MAPS_W, false);
		dune_pt_unlock(fl);
	}
	if (ret)
		goto fail;

	idt_init();
	ret = dune_host_signals_init();
	if (ret)
		goto fail;
	dune_inited = true;
	return 0;

fail:
	close(fd);
	dune_fd = -1;
	return ret;
}

int dune_init_and_enter(void)
{
	int ret;

	if (cpl() == 0)
		return 0;	/* already in Dune */
	ret = dune_init(true);
	if (ret)
		return ret;
	return dune_enter();
}

bool dune_is_inited(void)
{
	return dune_inited;
}

/* ------------------------------------------------------ public helpers */

uint64_t dune_pgroot_pa(void)
{
	return dune_pt.root_pa;
}
