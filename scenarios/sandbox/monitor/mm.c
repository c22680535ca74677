/*
 * mm.c - the program's memory calls, confined to its arena.
 *
 * The arena is [SBX_ARENA_LO, SBX_ARENA_HI); what the program has not
 * mapped is a PROT_NONE reservation of the monitor's, so nothing of the
 * monitor can ever be placed there and no call below can name memory
 * outside it:
 *   mmap       placed by the monitor (top down, like Linux) and made with
 *              MAP_FIXED over the reservation; MAP_FIXED only inside
 *   munmap     becomes a reservation again (never a hole)
 *   mprotect, madvise, mremap, pkey_mprotect: only ranges the program has
 *              mapped; mremap's old range is re-reserved, its new one
 *              placed like an mmap
 *   brk        emulated in a zone kept free after the program's image
 *   shmat/shmdt placed like an mmap (SHM_REMAP over the reservation)
 * Memory the program maps is mirrored with PTE_U because the calls are
 * made with a CPL3 trap frame (sbx_r3call); reservations are made by the
 * monitor (no PTE_U, no access).  The policy's memory limit counts every
 * byte the program has mapped (as RLIMIT_AS would).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#include "sbx.h"

#define PG		4096ULL
#define PAGE_UP(x)	(((x) + PG - 1) & ~(PG - 1))

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

static struct { uint64_t addr, len; } shm[64];
static int nshm;

void sbx_mm_reset(void)
{
	nshm = 0;
}

/* Give [addr, addr+len) back to the reservation (monitor-owned, PROT_NONE, no PTE_U). */
static int reserve(uint64_t addr, uint64_t len, bool noreplace)
{
	long r = dune_syscall6(SYS_mmap, (long)addr, (long)len, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED),
			       -1, 0);

	if (r < 0 && r > -4096)
		return (int)r;
	if ((uint64_t)r != addr) {
		dune_printf("dune-sandbox: reservation of %llx landed at %llx\n", (unsigned long long)addr,
			    (unsigned long long)r);
		sbx_exit(SBX_EXIT_ERROR);
	}
	return 0;
}

static bool over_limit(uint64_t addr, uint64_t len)
{
	uint64_t add = len - arena_occupied_in(&S.ar, addr, addr + len);

	if (S.ar.used + add > S.pol->memory) {
		sbx_log_event("limit", "\"what\":\"memory\",\"limit\":%llu,\"used\":%llu,\"wanted\":%llu",
			      (unsigned long long)S.pol->memory, (unsigned long long)S.ar.used,
			      (unsigned long long)add);
		return true;
	}
	return false;
}

/* After a failed MAP_FIXED-style call the kernel may have unmapped the range already. */
static void repair(uint64_t addr, uint64_t len)
{
	if (reserve(addr, len, true) == 0)
		arena_remove(&S.ar, addr, addr + len);
}

int sbx_mm_map_fixed(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t off)
{
	long r;

	if (over_limit(addr, len))
		return -ENOMEM;
	r = sbx_r3call(SYS_mmap, (long)addr, (long)len, prot, (flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED, fd,
		       (long)off);
	if (r < 0) {
		repair(addr, len);
		return (int)r;
	}
	if (arena_add(&S.ar, addr, addr + len))
		return -ENOMEM;
	return 0;
}

static long do_mmap(struct dune_tf *tf)
{
	uint64_t addr = tf->rdi, len = tf->rsi, off = tf->r9;
	int prot = (int)tf->rdx, flags = (int)tf->r10, fd = (int)tf->r8, r;

	if (!len || len > S.ar.hi - S.ar.lo)
		return len ? -ENOMEM : -EINVAL;
	len = PAGE_UP(len);
	if (off & (PG - 1))
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS) && fd >= 0 && sbx_is_monitor_fd(fd))
		return -EBADF;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
		return -EINVAL;
	flags &= ~MAP_GROWSDOWN;	/* the program's stack is a fixed mapping: no stack-like VMAs */
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & (PG - 1))
			return -EINVAL;
		if (!arena_contains(&S.ar, addr, addr + len) || addr + len < addr) {
			sbx_log_event("mm", "\"call\":\"mmap\",\"decision\":\"deny\",\"reason\":\"MAP_FIXED outside the "
				      "program's memory\",\"addr\":\"0x%llx\",\"len\":%llu", (unsigned long long)addr,
				      (unsigned long long)len);
			return -ENOMEM;
		}
		if ((flags & MAP_FIXED_NOREPLACE) && arena_overlaps(&S.ar, addr, addr + len))
			return -EEXIST;
	} else {
		uint64_t hint = addr & ~(PG - 1);

		if (hint && arena_contains(&S.ar, hint, hint + len) && hint + len > hint &&
		    !arena_overlaps(&S.ar, hint, hint + len) &&
		    !(S.ar.brk_hi > S.ar.brk_lo && hint < S.ar.brk_hi && hint + len > S.ar.brk_lo))
			addr = hint;
		else
			addr = arena_find(&S.ar, len, (flags & MAP_32BIT) != 0);
		if (!addr)
			return -ENOMEM;
	}
	r = sbx_mm_map_fixed(addr, len, prot, flags & ~MAP_32BIT, fd, off);
	return r ? r : (long)addr;
}

static long do_munmap(uint64_t addr, uint64_t len)
{
	int i, r;

	if ((addr & (PG - 1)) || !len)
		return -EINVAL;
	len = PAGE_UP(len);
	if (!arena_contains(&S.ar, addr, addr + len) || addr + len < addr)
		return -EINVAL;
	r = reserve(addr, len, false);
	if (r)
		return r;
	arena_remove(&S.ar, addr, addr + len);
	for (i = 0; i < nshm; i++)
		if (shm[i].addr >= addr && shm[i].addr + shm[i].len <= addr + len)
			shm[i--] = shm[--nshm];
	return 0;
}

static long do_mprotect(uint64_t addr, uint64_t len, int prot, long nr, long pkey)
{
	if (addr & (PG - 1))
		return -EINVAL;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
		return -EINVAL;	/* PROT_GROWSDOWN/UP: there are no stack-like VMAs here */
	if (nr == SYS_pkey_mprotect && pkey != -1)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_UP(len);
	if (!arena_contains(&S.ar, addr, addr + len) || addr + len < addr || !arena_mapped(&S.ar, addr, addr + len))
		return -ENOMEM;
	return sbx_r3call(SYS_mprotect, (long)addr, (long)len, prot, 0, 0, 0);
}

static long do_madvise(uint64_t addr, uint64_t len, int advice)
{
	if (addr & (PG - 1))
		return -EINVAL;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED: case MADV_DONTNEED:
	case MADV_FREE: case MADV_REMOVE: case MADV_DOFORK: case MADV_MERGEABLE: case MADV_UNMERGEABLE:
	case MADV_HUGEPAGE: case MADV_NOHUGEPAGE: case MADV_DONTDUMP: case MADV_DODUMP: case MADV_WIPEONFORK:
	case MADV_KEEPONFORK: case MADV_COLD: case MADV_PAGEOUT: case 22 /* POPULATE_READ */:
	case 23 /* POPULATE_WRITE */: case 24 /* DONTNEED_LOCKED */:
		break;
	case MADV_DONTFORK:
		/* a fork child would keep the pages in its page table but not in its address space */
		return -EINVAL;
	default:
		sbx_log_event("mm", "\"call\":\"madvise\",\"decision\":\"deny\",\"advice\":%d", advice);
		return advice == MADV_HWPOISON || advice == MADV_SOFT_OFFLINE ? -EPERM : -EINVAL;
	}
	if (!len)
		return 0;
	len = PAGE_UP(len);
	if (!arena_contains(&S.ar, addr, addr + len) || addr + len < addr) {
		sbx_log_event("mm", "\"call\":\"madvise\",\"decision\":\"deny\",\"reason\":\"outside the program's "
			      "memory\",\"addr\":\"0x%llx\"", (unsigned long long)addr);
		return -ENOMEM;
	}
	return sbx_r3call(SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0);
}

static long move(uint64_t old, uint64_t osz, uint64_t nsz, uint64_t dst)
{
	long r;

	if (over_limit(dst, nsz) && nsz > osz)
		return -ENOMEM;
	r = sbx_r3call(SYS_mremap, (long)old, (long)osz, (long)nsz, MREMAP_MAYMOVE | MREMAP_FIXED, (long)dst, 0);
	if (r < 0) {
		repair(dst, nsz);
		return r;
	}
	arena_remove(&S.ar, old, old + osz);
	if (reserve(old, osz, true))
		dune_printf("dune-sandbox: warning: could not re-reserve %llx\n", (unsigned long long)old);
	arena_add(&S.ar, dst, dst + nsz);
	return (long)dst;
}

static long do_mremap(uint64_t old, uint64_t osz, uint64_t nsz, int flags, uint64_t dst)
{
	long r;

	if ((old & (PG - 1)) || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)))
		return -EINVAL;	/* MREMAP_DONTUNMAP is not offered */
	if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))
		return -EINVAL;
	osz = PAGE_UP(osz);
	nsz = PAGE_UP(nsz);
	if (!osz || !nsz)
		return -EINVAL;
	if (!arena_contains(&S.ar, old, old + osz) || old + osz < old || !arena_mapped(&S.ar, old, old + osz))
		return -EFAULT;
	if (nsz > S.ar.hi - S.ar.lo)
		return -ENOMEM;
	if (flags & MREMAP_FIXED) {
		if ((dst & (PG - 1)) || !arena_contains(&S.ar, dst, dst + nsz) || dst + nsz < dst) {
			sbx_log_event("mm", "\"call\":\"mremap\",\"decision\":\"deny\",\"reason\":\"MREMAP_FIXED outside "
				      "the program's memory\",\"new_address\":\"0x%llx\"", (unsigned long long)dst);
			return -EINVAL;
		}
		if (dst < old + osz && dst + nsz > old)
			return -EINVAL;
		return move(old, osz, nsz, dst);
	}
	if (nsz <= osz) {
		r = sbx_r3call(SYS_mremap, (long)old, (long)osz, (long)nsz, 0, 0, 0);
		if (r >= 0 && nsz < osz) {
			arena_remove(&S.ar, old + nsz, old + osz);
			if (reserve(old + nsz, osz - nsz, true))
				dune_printf("dune-sandbox: warning: could not re-reserve a shrunk tail\n");
		}
		return r;
	}
	/* grow in place if the next pages are free (and not the brk zone) */
	if (arena_contains(&S.ar, old + osz, old + nsz) && old + nsz > old &&
	    !arena_overlaps(&S.ar, old + osz, old + nsz) &&
	    !(S.ar.brk_hi > S.ar.brk_lo && old + osz < S.ar.brk_hi && old + nsz > S.ar.brk_lo)) {
		if (over_limit(old, nsz))
			return -ENOMEM;
		/* the reservation must go for the kernel to extend the mapping; put it back if that fails */
		if (dune_syscall6(SYS_munmap, (long)(old + osz), (long)(nsz - osz), 0, 0, 0, 0) == 0) {
			r = sbx_r3call(SYS_mremap, (long)old, (long)osz, (long)nsz, 0, 0, 0);
			if (r >= 0) {
				arena_add(&S.ar, old + osz, old + nsz);
				return r;
			}
			if (reserve(old + osz, nsz - osz, true)) {
				dune_printf("dune-sandbox: lost the reservation at %llx\n", (unsigned long long)(old + osz));
				sbx_exit(SBX_EXIT_ERROR);
			}
		}
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	dst = arena_find(&S.ar, nsz, false);
	if (!dst)
		return -ENOMEM;
	return move(old, osz, nsz, dst);
}

static long do_brk(uint64_t want)
{
	uint64_t cur = S.brk_cur, old_top = PAGE_UP(cur), new_top = PAGE_UP(want);
	int r;

	if (!want || want < S.brk_start || want > S.ar.brk_hi)
		return (long)cur;
	if (new_top > old_top) {
		if (arena_overlaps(&S.ar, old_top, new_top))
			return (long)cur;	/* something was mapped in the way */
		r = sbx_mm_map_fixed(old_top, new_top - old_top, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				     -1, 0);
		if (r)
			return (long)cur;
	} else if (new_top < old_top) {
		if (reserve(new_top, old_top - new_top, false))
			return (long)cur;
		arena_remove(&S.ar, new_top, old_top);
	}
	S.brk_cur = want;
	return (long)want;
}

static long do_shmat(int id, uint64_t addr, int flg)
{
	struct shmid_ds ds;
	uint64_t len;
	long r;

	if (nshm == (int)(sizeof(shm) / sizeof(shm[0])))
		return -EMFILE;
	r = dune_syscall6(SYS_shmctl, id, IPC_STAT, (long)&ds, 0, 0, 0);
	if (r < 0)
		return r;
	len = PAGE_UP(ds.shm_segsz);
	if (!len)
		return -EINVAL;
	if (addr) {
		if (flg & SHM_RND)
			addr &= ~(PG - 1);
		if ((addr & (PG - 1)) || !arena_contains(&S.ar, addr, addr + len) || addr + len < addr) {
			sbx_log_event("mm", "\"call\":\"shmat\",\"decision\":\"deny\",\"reason\":\"outside the program's "
				      "memory\",\"shmaddr\":\"0x%llx\"", (unsigned long long)addr);
			return -EINVAL;
		}
		if (arena_overlaps(&S.ar, addr, addr + len) && !(flg & SHM_REMAP))
			return -EINVAL;
	} else {
		addr = arena_find(&S.ar, len, false);
		if (!addr)
			return -ENOMEM;
	}
	if (over_limit(addr, len))
		return -ENOMEM;
	r = sbx_r3call(SYS_shmat, id, (long)addr, flg | SHM_REMAP, 0, 0, 0);
	if (r < 0) {
		repair(addr, len);
		return r;
	}
	arena_add(&S.ar, addr, addr + len);
	shm[nshm].addr = addr;
	shm[nshm].len = len;
	nshm++;
	return r;
}

static long do_shmdt(uint64_t addr)
{
	int i;
	long r;

	for (i = 0; i < nshm; i++)
		if (shm[i].addr == addr)
			break;
	if (i == nshm)
		return -EINVAL;
	r = sbx_r3call(SYS_shmdt, (long)addr, 0, 0, 0, 0, 0);
	if (r)
		return r;
	arena_remove(&S.ar, addr, addr + shm[i].len);
	if (reserve(addr, shm[i].len, true))
		dune_printf("dune-sandbox: warning: could not re-reserve after shmdt\n");
	shm[i] = shm[--nshm];
	return 0;
}

void sbx_mm_syscall(struct dune_tf *tf)
{
	long r;

	switch (tf->rax) {
	case SYS_mmap:
		r = do_mmap(tf);
		break;
	case SYS_munmap:
		r = do_munmap(tf->rdi, tf->rsi);
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		r = do_mprotect(tf->rdi, tf->rsi, (int)tf->rdx, (long)tf->rax, (long)tf->r10);
		break;
	case SYS_madvise:
		r = do_madvise(tf->rdi, tf->rsi, (int)tf->rdx);
		break;
	case SYS_mremap:
		r = do_mremap(tf->rdi, tf->rsi, tf->rdx, (int)tf->r10, tf->r8);
		break;
	case SYS_brk:
		r = do_brk(tf->rdi);
		break;
	case SYS_shmat:
		r = do_shmat((int)tf->rdi, tf->rsi, (int)tf->rdx);
		break;
	case SYS_shmdt:
		r = do_shmdt(tf->rdi);
		break;
	case SYS_pkey_alloc:
		r = -ENOSPC;	/* no protection keys in the guest */
		break;
	case SYS_pkey_free:
		r = -EINVAL;
		break;
	case SYS_mincore: {
		uint64_t len = PAGE_UP(tf->rsi), vec = tf->rdx;

		if (tf->rdi & (PG - 1))
			r = -EINVAL;
		else if (!arena_contains(&S.ar, tf->rdi, tf->rdi + len) || tf->rdi + len < tf->rdi)
			r = -ENOMEM;
		else if (!sbx_range_ok(&S.ua, vec, len / PG))
			r = -EFAULT;
		else
			r = sbx_r3call(SYS_mincore, (long)tf->rdi, (long)tf->rsi, (long)vec, 0, 0, 0);
		break;
	}
	default:
		r = -ENOSYS;
		break;
	}
	SET_RET(tf, r);
}
