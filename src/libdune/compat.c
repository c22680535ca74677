/*
 * compat.c - the functions behind compat/dune.h: the original libdune's
 * names, signatures and behaviours where they differ from dunelab's, each
 * built on the native API (see docs/libdune-compat.md).  Nothing native
 * calls these; a program reaches them only through the compat header.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "page.h"
#include "compat/dune_procmap.h"

#define COMPAT_PERM_BIG_1GB	0x0200

static int native_perm(int perm)
{
	if (perm & COMPAT_PERM_BIG_1GB)
		perm = (perm & ~COMPAT_PERM_BIG_1GB) | PERM_BIG;
	return perm;
}

/* ------------------------------------------------------------- layout */

uintptr_t dune_compat_phys_limit(void) { return dune_layout.phys_limit; }
uintptr_t dune_compat_mmap_base(void) { return dune_layout.base_map; }
uintptr_t dune_compat_stack_base(void) { return dune_layout.base_stack; }

/* -------------------------------------------------------------- entry */

int dune_compat_enter(void)
{
	return dune_in_guest() ? 0 : dune_enter();
}

/* ---------------------------------------------------------- utilities */

void *dune_compat_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	void *p = mmap(addr, length, prot, flags, fd, offset);

	/* dune_init(true) mirrors every mmap; with dune_init(false) map it here */
	if (p != MAP_FAILED && dune_inited && !dune_map_full && (prot & (PROT_READ | PROT_WRITE | PROT_EXEC))) {
		int perm = PERM_R | (prot & PROT_WRITE ? PERM_W : 0) | (prot & PROT_EXEC ? PERM_X : 0);
		size_t len = (length + PGSIZE - 1) & ~(PGSIZE - 1);

		if (dune_vm_map_pages(pgroot, p, len, perm)) {
			munmap(p, length);
			errno = ENOMEM;
			return MAP_FAILED;
		}
	}
	return p;
}

sighandler_t dune_compat_signal(int sig, sighandler_t cb)
{
	return signal(sig, cb);
}

/* --------------------------------------------------------- trap frames */

void dune_pop_trap_frame(struct dune_tf *tf)
{
	struct dune_tf f = *tf;

	if (!dune_in_guest()) {
		dune_printf("dune: dune_pop_trap_frame() outside Dune mode\n");
		dune_die();
	}
	f.cs = GD_KT;
	f.ss = GD_KD;
	f.rflags |= X86_EFLAGS_FIXED;
	cli();
	__asm__ volatile("movq %0, %%rsp\n\tjmp dune_trap_return" : : "r"(&f) : "memory");
	__builtin_unreachable();
}

int dune_compat_jump_to_user_all(struct dune_tf *tf)
{
	int ret;

	if (!dune_in_guest())
		return -EPERM;
	/* the original's ring 3 saw the whole process: give it every present page */
	ret = dune_vm_set_user(pgroot, 0, VA_USER_LIMIT, true);
	if (ret)
		return ret;
	dune_flush_tlb();
	return dune_jump_to_user(tf);
}

/* -------------------------------------------------------- page tables */

int dune_compat_vm_map_phys(ptent_t *root, void *va, size_t len, void *pa, int perm)
{
	return dune_vm_map_phys(root, va, len, (uint64_t)(uintptr_t)pa, native_perm(perm));
}

/* Host memory (a VMA exists) at [va, va+len)?  mincore fails with ENOMEM on any hole. */
static bool host_mapped(uintptr_t va, size_t len)
{
	unsigned char vec[64];
	size_t pages = len / PGSIZE;

	while (pages) {
		size_t n = pages < sizeof(vec) ? pages : sizeof(vec);

		if (syscall(SYS_mincore, va, n * PGSIZE, vec))
			return false;
		va += n * PGSIZE;
		pages -= n;
	}
	return true;
}

/*
 * The original backed [va, va+len) with fresh pages from its allocator.
 * dunelab's dune_vm_map_pages maps the host memory already there.  Here:
 * host memory keeps dunelab's meaning (the guest sees what the host sees),
 * and pages with no host memory behind them get a fresh zeroed allocator
 * page each, as the original gave them (visible in Dune mode only).
 */
int dune_compat_vm_map_pages(ptent_t *root, void *va, size_t len, int perm)
{
	uintptr_t a = (uintptr_t)va, end = a + len;
	int ret = 0;

	perm = native_perm(perm);
	if ((a | len) & (PGSIZE - 1) || end < a)
		return -EINVAL;
	if (host_mapped(a, len))
		return dune_vm_map_pages(root, va, len, perm);
	for (; a < end && !ret; a += PGSIZE) {
		struct dune_page *pg;

		if (host_mapped(a, PGSIZE)) {
			ret = dune_vm_map_pages(root, (void *)a, PGSIZE, perm & ~PERM_BIG);
			continue;
		}
		pg = dune_page_alloc();
		if (!pg) {
			dune_printf("dune: dune_vm_map_pages: page allocator exhausted at %#lx; "
				    "mmap() the range on the host instead (libdune mirrors it)\n",
				    (unsigned long)a);
			return -ENOMEM;
		}
		ret = dune_vm_insert_page(root, (void *)a, pg, perm & ~PERM_BIG);
		dune_page_put(pg);	/* the mapping holds its own reference */
	}
	return ret;
}

int dune_compat_vm_lookup_big(void)
{
	dune_printf("dune: dune_vm_lookup: CREATE_BIG/CREATE_BIG_1GB are not supported; "
		    "use CREATE_NONE to find an existing 2 MiB leaf or dune_vm_map_phys(PERM_BIG)\n");
	return -EINVAL;
}

int dune_compat_vm_mprotect(ptent_t *root, void *va, size_t len, int perm)
{
	return dune_vm_mprotect(root, va, len, native_perm(perm) & ~PERM_BIG);
}

struct dune_page *dune_compat_vm_lookup_page(ptent_t *root, void *va)
{
	struct dune_page *pg;

	return dune_vm_lookup_page(root, va, &pg) ? NULL : pg;
}

/* ------------------------------------------------------ process maps */

static int procmap_type(const char *path)
{
	if (!path[0])
		return PROCMAP_TYPE_ANONYMOUS;
	if (path[0] != '[')
		return PROCMAP_TYPE_FILE;
	if (!strcmp(path, "[heap]"))
		return PROCMAP_TYPE_HEAP;
	if (!strncmp(path, "[stack", 6))
		return PROCMAP_TYPE_STACK;
	if (!strcmp(path, "[vsyscall]"))
		return PROCMAP_TYPE_VSYSCALL;
	if (!strcmp(path, "[vdso]"))
		return PROCMAP_TYPE_VDSO;
	if (!strncmp(path, "[vvar", 5))
		return PROCMAP_TYPE_VVAR;
	return PROCMAP_TYPE_UNKNOWN;
}

void dune_procmap_iterate(dune_procmap_cb cb)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4352];

	if (!f) {
		dune_printf("dune: dune_procmap_iterate: cannot open /proc/self/maps\n");
		dune_die();
	}
	while (fgets(line, sizeof(line), f)) {
		struct dune_procmap_entry e;
		unsigned long begin, end, off;
		char perms[5];
		int n = 0;
		char *path, *nl;

		if (sscanf(line, "%lx-%lx %4s %lx %*s %*u %n", &begin, &end, perms, &off, &n) < 4 || !n)
			continue;
		path = line + n;
		nl = strchr(path, '\n');
		if (nl)
			*nl = 0;
		e.begin = begin;
		e.end = end;
		e.offset = off;
		e.r = perms[0] == 'r';
		e.w = perms[1] == 'w';
		e.x = perms[2] == 'x';
		e.p = perms[3] == 'p';
		e.path = path;
		e.type = procmap_type(path);
		cb(&e);
	}
	fclose(f);
}

static void dump_entry(const struct dune_procmap_entry *e)
{
	dune_printf("0x%016lx-0x%016lx %c%c%c%c %08lx %s\n", (unsigned long)e->begin,
		    (unsigned long)e->end, e->r ? 'R' : '-', e->w ? 'W' : '-', e->x ? 'X' : '-',
		    e->p ? 'P' : 'S', (unsigned long)e->offset, e->path);
}

void dune_procmap_dump(void)
{
	dune_printf("--- Process Map Dump ---\n");
	dune_procmap_iterate(dump_entry);
}
