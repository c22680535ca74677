/*
 * dune.c - libdune core: dune_init() (the device, the layout, the page
 * allocator, the initial guest page table, the IDT, host signals) and
 * dune_init_and_enter().  The mirror of the address space is mirror.c, the
 * dune_vm_* API and the page-table lock vm.c, the page allocator page.c,
 * entering and the host loop hostloop.c.
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

bool dune_inited;

/*
 * The page allocator's region (page-table pages and dune_page_alloc()
 * pages).  MAP_NORESERVE: only pages actually used cost memory.  It is mapped
 * in the guest without PTE_U, so guest code can walk and edit page tables
 * at the same addresses as the host.
 */
#define PAGE_REGION_SIZE	(1UL << 30)

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

size_t dune_fpu_state_size(int *format)
{
	if (format)
		*format = dune_fpu_mode;
	return dune_fpu_size;
}

void *dune_tf_fpu(const struct dune_tf *tf)
{
	/* a system call's handler runs through dune_fpu_call (syscall.c), which says where it saved */
	if (tf->trapno == DUNE_TRAPNO_SYSCALL)
		return dune_self ? dune_self->syscall_fpu : NULL;
	/* every other handler through entry.S's CALL_WITH_FPU: right below the frame, 64-byte aligned */
	return (void *)(((uintptr_t)tf - dune_fpu_size) & ~(uintptr_t)63);
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

	fd = dune_backend_open(&dune_layout);
	if (fd < 0)
		return fd;
	if (dune_layout.phys_limit < (GPA_MAP_SIZE + GPA_STACK_SIZE) * 2 ||
	    (dune_layout.phys_limit & (dune_layout.phys_limit - 1))) {
		dune_printf("dune: bad layout: phys_limit %llx\n", (unsigned long long)dune_layout.phys_limit);
		close(fd);
		return -EINVAL;
	}
	dune_fd = fd;
	dune_map_full = map_full;

	fpu_init();
	dune_pregrow_stack();

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
	dune_be = NULL;
	dune_exit_insn = DUNE_EXIT_VMCALL;
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

/* ------------------------------------------------------ public helpers */

uint64_t dune_pgroot_pa(void)
{
	return dune_pt.root_pa;
}
