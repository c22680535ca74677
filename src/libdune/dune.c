/*
 * dune.c - libdune core: dune_init(), the guest page table (pool allocator,
 * mirroring of /proc/self/maps), the IDT, the page-table lock and the
 * dune_vm_* wrappers.
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

int dune_fd = -1;
struct dune_layout dune_layout;
struct pt dune_pt;
bool dune_map_full;
volatile uint64_t dune_tlb_gen;
uint64_t dune_idt[512] __attribute__((aligned(4096)));
struct x86_dtr dune_idtr;
size_t dune_fpu_size;
int dune_fpu_mode;
ptent_t *pgroot;

dune_intr_cb dune_intr_cbs[256];
dune_pgflt_cb dune_pgflt_handler;
dune_syscall_cb dune_syscall_handler;

static bool dune_inited;
static volatile int pt_lock_word;

/* ---------------------------------------------------------------- lock */

uint64_t dune_pt_lock(void)
{
	uint64_t flags = 0;

	if (cpl() == 0) {		/* guest: no interrupts while holding it */
		flags = read_rflags();
		cli();
	}
	while (__atomic_exchange_n(&pt_lock_word, 1, __ATOMIC_ACQUIRE))
		while (pt_lock_word)
			__builtin_ia32_pause();
	return flags;
}

void dune_pt_unlock(uint64_t flags)
{
	__atomic_store_n(&pt_lock_word, 0, __ATOMIC_RELEASE);
	if (flags & X86_EFLAGS_IF)
		sti();
}

/* Used by the fork child: the lock holder may have been another thread. */
void dune_pt_lock_reset(void)
{
	pt_lock_word = 0;
}

/* ------------------------------------------------- page-table page pool */

/*
 * Page-table pages come from one big private anonymous mapping reserved at
 * dune_init() (MAP_NORESERVE: only pages actually used cost memory).  It is
 * mapped in the guest page table too (without PTE_U), so guest code can walk
 * and edit page tables at the same addresses as the host.  Pages are never
 * freed (unmapping keeps intermediate tables).
 */
#define POOL_SIZE	(256UL << 20)

static uint8_t *pool_base, *pool_next, *pool_end;

static void *pool_alloc(void *arg, physaddr_t *pa)
{
	uint8_t *p;

	(void)arg;
	if (pool_next >= pool_end)
		return NULL;
	p = pool_next;
	pool_next += PGSIZE;
	memset(p, 0, PGSIZE);
	*pa = dune_layout_va_to_pa(&dune_layout, (uintptr_t)p);
	return p;
}

static void *pool_pa_to_va(void *arg, physaddr_t pa)
{
	(void)arg;
	return (void *)(uintptr_t)dune_layout_pa_to_va(&dune_layout, pa);
}

static int pool_init(void)
{
	size_t sz = POOL_SIZE + BIG_PGSIZE;
	uint8_t *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return -errno;
	a = ((uintptr_t)p + BIG_PGSIZE - 1) & ~(BIG_PGSIZE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + sz > a + POOL_SIZE)
		munmap((void *)(a + POOL_SIZE), (uintptr_t)p + sz - (a + POOL_SIZE));
	pool_base = pool_next = (uint8_t *)a;
	pool_end = pool_base + POOL_SIZE;
	if (dune_layout_contig(&dune_layout, a, POOL_SIZE) != POOL_SIZE)
		return -ERANGE;
	return 0;
}

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
	r = dune_map_range_locked(e->start, e->end - e->start, e->prot, true);
	if (r == -EFAULT) {
		dune_printf("dune: warning: %lx-%lx (%.*s) has no guest-physical address; left unmapped\n",
			    (unsigned long)e->start, (unsigned long)e->end, (int)e->path_len, e->path);
		r = 0;
	}
	if (r && !a->ret)
		a->ret = r;
	return 0;
}

int dune_sync_from_maps(uintptr_t start, uintptr_t end)
{
	struct sync_arg a = { start, end, 0 };
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

	ret = pool_init();
	if (ret) {
		dune_printf("dune: cannot set up the page-table pool: %d\n", ret);
		goto fail;
	}
	{
		struct pt_ops ops = { pool_alloc, pool_pa_to_va, NULL };

		ret = pt_init(&dune_pt, &ops);
		if (ret)
			goto fail;
	}
	pgroot = dune_pt.root;

	dune_brk_init();
	ret = dune_sync_from_maps(0, 0);
	if (ret) {
		dune_printf("dune: building the guest page table failed: %d\n", ret);
		goto fail;
	}
	/* the pool is libdune-private: no PTE_U */
	fl = dune_pt_lock();
	ret = dune_map_range_locked((uintptr_t)pool_base, POOL_SIZE, MAPS_R | MAPS_W, false);
	dune_pt_unlock(fl);
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

uint64_t dune_va_to_pa(const void *va)
{
	return dune_layout_va_to_pa(&dune_layout, (uintptr_t)va);
}

uint64_t dune_pgroot_pa(void)
{
	return dune_pt.root_pa;
}

int dune_vm_lookup(ptent_t *root, void *va, int create, ptent_t **pte_out)
{
	uint64_t fl;
	ptent_t *e;

	if (!root || root != dune_pt.root)
		return -EINVAL;
	fl = dune_pt_lock();
	e = pt_lookup(&dune_pt, (uintptr_t)va, create, NULL);
	dune_pt_unlock(fl);
	if (!e)
		return create ? -ENOMEM : -ENOENT;
	*pte_out = e;
	return 0;
}

static int perm_to_maps(int perm)
{
	int prot = 0;

	if (perm & PERM_R)
		prot |= MAPS_R;
	if (perm & PERM_W)
		prot |= MAPS_W | MAPS_R;
	if (perm & PERM_X)
		prot |= MAPS_X | MAPS_R;
	return prot;
}

static uint64_t perm_to_pte(int perm)
{
	uint64_t f = prot_to_pte(perm_to_maps(perm), perm & PERM_U);

	if (perm & PERM_NOBIG)
		f |= PT_MAP_NOBIG;
	return f;
}

int dune_vm_map_phys(ptent_t *root, void *va, size_t len, uint64_t pa, int perm)
{
	uint64_t fl;
	int ret;

	if (!root || root != dune_pt.root)
		return -EINVAL;
	fl = dune_pt_lock();
	ret = pt_map(&dune_pt, (uintptr_t)va, len, pa, perm_to_pte(perm));
	dune_pt_unlock(fl);
	return ret;
}

int dune_vm_map_pages(ptent_t *root, void *va, size_t len, int perm)
{
	uintptr_t a = (uintptr_t)va, end = a + len;
	uint64_t fl;
	int ret = 0;

	if (!root || root != dune_pt.root)
		return -EINVAL;
	if ((a | len) & (PGSIZE - 1))
		return -EINVAL;
	fl = dune_pt_lock();
	while (a < end && !ret) {
		uint64_t n = dune_layout_contig(&dune_layout, a, end - a);

		if (!n) {
			ret = -EFAULT;
			break;
		}
		ret = pt_map(&dune_pt, a, n, dune_layout_va_to_pa(&dune_layout, a), perm_to_pte(perm));
		a += n;
	}
	dune_pt_unlock(fl);
	return ret;
}

int dune_vm_unmap(ptent_t *root, void *va, size_t len)
{
	uint64_t fl;
	int ret;

	if (!root || root != dune_pt.root)
		return -EINVAL;
	fl = dune_pt_lock();
	ret = pt_unmap(&dune_pt, (uintptr_t)va, len);
	dune_pt_unlock(fl);
	__atomic_add_fetch(&dune_tlb_gen, 1, __ATOMIC_SEQ_CST);
	return ret;
}

int dune_vm_mprotect(ptent_t *root, void *va, size_t len, int perm)
{
	uint64_t fl;
	int ret;

	if (!root || root != dune_pt.root)
		return -EINVAL;
	if (!(perm & (PERM_R | PERM_W | PERM_X)))
		return dune_vm_unmap(root, va, len);
	fl = dune_pt_lock();
	ret = pt_protect(&dune_pt, (uintptr_t)va, len, prot_to_pte(perm_to_maps(perm), perm & PERM_U));
	dune_pt_unlock(fl);
	__atomic_add_fetch(&dune_tlb_gen, 1, __ATOMIC_SEQ_CST);
	return ret;
}
