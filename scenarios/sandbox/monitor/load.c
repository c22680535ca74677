/*
 * load.c - loading a program into the arena: at start and for execve,
 * which runs the new program inside the same sandbox (a real execve would
 * leave Dune, and the sandbox with it).
 *
 * sbx_prepare() does everything that can fail without harm: resolve and
 * open the file through the policy, follow "#!" lines, validate the ELF
 * file and its interpreter (also opened through the policy, so PT_INTERP
 * cannot name a file outside it).  sbx_commit() maps them into the arena
 * (ET_EXEC at its link address, which must lie in the arena; a PIE at
 * SBX_PIE_LOW; the interpreter top down like an mmap), builds the stack
 * as execve does and sets the registers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dune_elf.h>

#include "sbx.h"
#include "load.h"

#define PG		4096ULL
#define PG_DOWN(x)	((x) & ~(PG - 1))
#define PG_UP(x)	(((x) + PG - 1) & ~(PG - 1))
#define MAX_SHEBANG	4

/* Open a program or interpreter for execution through the policy. */
static int open_exec(const char *path, char *canon, size_t canon_len)
{
	struct sbx_resolved r;
	struct stat st;
	int fd, ret;

	ret = sbx_fs_resolve(&S.fs, AT_FDCWD, path, NEED_READ, &r);
	if (!ret) {
		fd = sbx_fs_open_final(&S.fs, &r, O_RDONLY | O_CLOEXEC, 0, true, NEED_READ);
		ret = fd < 0 ? fd : 0;
	} else {
		fd = -1;
	}
	if (ret) {
		if (ret == -EACCES && r.why != WHY_NONE)
			sbx_log_event("exec", "\"path\":\"%s\",\"decision\":\"deny\",\"reason\":\"%s\"", r.path,
				      r.why == WHY_FORBIDDEN ? "forbidden" : "outside the policy");
		sbx_fs_release(&S.fs, &r);
		return ret;
	}
	snprintf(canon, canon_len, "%s", r.path);
	sbx_fs_release(&S.fs, &r);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

void sbx_exec_free(struct sbx_exec *x)
{
	int i;

	if (x->prog_open)
		dune_elf_close(&x->prog);
	if (x->interp_open)
		dune_elf_close(&x->interp);
	if (x->fd >= 0)
		close(x->fd);
	if (x->interp_fd >= 0)
		close(x->interp_fd);
	for (i = 0; i < x->nextra; i++)
		free(x->extra[i]);
	free(x->argv);
	memset(x, 0, sizeof(*x));
	x->fd = x->interp_fd = -1;
}

/* "#!interp [arg]" in buf: fills interp and arg.  0, or -ENOEXEC. */
static int parse_shebang(const char *buf, size_t n, char *interp, size_t ilen, char *arg, size_t alen)
{
	const char *p = buf + 2, *end, *nl = memchr(buf, '\n', n);

	if (!nl)
		nl = buf + n;	/* Linux takes the first 256 bytes without a newline too */
	while (p < nl && (*p == ' ' || *p == '\t'))
		p++;
	end = p;
	while (end < nl && *end != ' ' && *end != '\t')
		end++;
	if (end == p || (size_t)(end - p) >= ilen)
		return -ENOEXEC;
	memcpy(interp, p, (size_t)(end - p));
	interp[end - p] = '\0';
	while (end < nl && (*end == ' ' || *end == '\t'))
		end++;
	p = nl;
	while (p > end && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r'))
		p--;
	if ((size_t)(p - end) >= alen)
		return -ENOEXEC;
	memcpy(arg, end, (size_t)(p - end));
	arg[p - end] = '\0';
	return 0;
}

int sbx_prepare(const char *path, char *const argv[], struct sbx_exec *x)
{
	char fdp[32], buf[256], interp[256], iarg[256];
	const char *cur = path;
	int depth, argc, i, ret;

	memset(x, 0, sizeof(*x));
	x->fd = x->interp_fd = -1;
	for (argc = 0; argv && argv[argc]; argc++)
		;
	x->argv = calloc((size_t)argc + 2 * MAX_SHEBANG + 2, sizeof(char *));
	if (!x->argv)
		return -ENOMEM;
	for (i = 0; i < argc; i++)
		x->argv[i] = argv[i];
	x->argc = argc;
	snprintf(x->execfn, sizeof(x->execfn), "%s", path);
	for (depth = 0;; depth++) {
		ssize_t n;

		x->fd = open_exec(cur, x->path, sizeof(x->path));
		if (x->fd < 0) {
			ret = x->fd;
			goto fail;
		}
		n = pread(x->fd, buf, sizeof(buf), 0);
		if (n < 0) {
			ret = -errno;
			goto fail;
		}
		if (n < 2 || buf[0] != '#' || buf[1] != '!')
			break;
		if (depth == MAX_SHEBANG) {
			ret = -ELOOP;
			goto fail;
		}
		ret = parse_shebang(buf, (size_t)n, interp, sizeof(interp), iarg, sizeof(iarg));
		if (ret)
			goto fail;
		/* argv becomes: interp [iarg] script-as-given argv[1..] */
		{
			int k = 0, shift = iarg[0] ? 2 : 1;
			char *ip = strdup(interp), *ap = iarg[0] ? strdup(iarg) : NULL, *sp = strdup(cur);

			if (!ip || (iarg[0] && !ap) || !sp) {
				free(ip);
				free(ap);
				free(sp);
				ret = -ENOMEM;
				goto fail;
			}
			x->extra[x->nextra++] = ip;
			if (ap)
				x->extra[x->nextra++] = ap;
			x->extra[x->nextra++] = sp;
			if (x->argc > 0) {
				memmove(&x->argv[shift + 1], &x->argv[1], (size_t)(x->argc - 1) * sizeof(char *));
				x->argc += shift;
			} else {
				x->argc = shift + 1;
			}
			x->argv[k++] = ip;
			if (ap)
				x->argv[k++] = ap;
			x->argv[k] = sp;
			x->argv[x->argc] = NULL;
			cur = ip;
		}
		close(x->fd);
		x->fd = -1;
	}
	ret = dune_elf_open(&x->prog, sbx_fd_path(x->fd, fdp));
	if (ret)
		goto fail;
	x->prog_open = true;
	if (x->prog.interp) {
		char ipath[4096];

		x->interp_fd = open_exec(x->prog.interp, ipath, sizeof(ipath));
		if (x->interp_fd < 0) {
			ret = x->interp_fd == -EACCES ? -EACCES : x->interp_fd;
			goto fail;
		}
		ret = dune_elf_open(&x->interp, sbx_fd_path(x->interp_fd, fdp));
		if (ret)
			goto fail;
		x->interp_open = true;
		if (x->interp.interp || x->interp.ehdr.e_type != ET_DYN) {
			ret = -ELIBBAD;
			goto fail;
		}
	}
	return 0;
fail:
	sbx_exec_free(x);
	return ret;
}

/* Page-rounded span of an ELF file's PT_LOADs and their largest alignment. */
static void span_of(const struct dune_elf *e, uint64_t *lo, uint64_t *hi, uint64_t *align)
{
	int i;

	*lo = UINT64_MAX;
	*hi = 0;
	*align = PG;
	for (i = 0; i < e->ehdr.e_phnum; i++) {
		const Elf64_Phdr *ph = &e->phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (PG_DOWN(ph->p_vaddr) < *lo)
			*lo = PG_DOWN(ph->p_vaddr);
		if (PG_UP(ph->p_vaddr + ph->p_memsz) > *hi)
			*hi = PG_UP(ph->p_vaddr + ph->p_memsz);
		if (ph->p_align > *align && ph->p_align <= (2ULL << 20) && !(ph->p_align & (ph->p_align - 1)))
			*align = ph->p_align;
	}
}

/* Map e with its lowest segment at base (ET_EXEC: base = its own lo). */
static int map_image(struct dune_elf *e, uint64_t base, struct dune_elf_loaded *out)
{
	uint64_t lo, hi, align, bias, prev;
	int i, ret;

	span_of(e, &lo, &hi, &align);
	bias = base - lo;
	if (!arena_contains(&S.ar, base, base + (hi - lo)) || arena_overlaps(&S.ar, base, base + (hi - lo)))
		return -ENOEXEC;
	if (S.ar.used + (hi - lo) > S.pol->memory)
		return -ENOMEM;
	/* open a hole in the reservation exactly where the image goes; the loader refuses to replace */
	if (dune_syscall6(SYS_munmap, (long)base, (long)(hi - lo), 0, 0, 0, 0))
		return -ENOMEM;
	ret = dune_elf_load(e, e->ehdr.e_type == ET_DYN ? base : 0, out);
	if (ret) {
		dune_syscall6(SYS_mmap, (long)base, (long)(hi - lo), PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		return ret;
	}
	/* segments are the program's; gaps between them go back to the reservation */
	prev = base;
	for (i = 0; i < e->ehdr.e_phnum; i++) {
		const Elf64_Phdr *ph = &e->phdr[i];
		uint64_t s, en;

		if (ph->p_type != PT_LOAD)
			continue;
		s = PG_DOWN(ph->p_vaddr + bias);
		en = PG_UP(ph->p_vaddr + ph->p_memsz + bias);
		if (s > prev)
			dune_syscall6(SYS_mmap, (long)prev, (long)(s - prev), PROT_NONE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		arena_add(&S.ar, s, en);
		if (en > prev)
			prev = en;
	}
	ret = dune_vm_set_user(pgroot, (void *)(uintptr_t)base, hi - lo, true);
	dune_flush_tlb();
	return ret;
}

int sbx_commit(struct sbx_exec *x, char *const envp[], struct dune_tf *tf)
{
	struct dune_elf_image img;
	struct dune_elf_stack_params params;
	uint64_t lo, hi, align, base, stack_lo = SBX_ARENA_HI - SBX_STACK_SIZE, sp;
	int ret;

	memset(&img, 0, sizeof(img));
	span_of(&x->prog, &lo, &hi, &align);
	if (x->prog.ehdr.e_type == ET_EXEC) {
		base = lo;
		if (!arena_contains(&S.ar, lo, hi) || hi > stack_lo - SBX_STACK_GAP) {
			sbx_log_event("exec", "\"path\":\"%s\",\"decision\":\"deny\",\"reason\":\"linked at 0x%llx, outside "
				      "the program's arena\"", x->path, (unsigned long long)lo);
			return -ENOEXEC;
		}
	} else {
		base = (SBX_PIE_LOW + align - 1) & ~(align - 1);
	}
	ret = map_image(&x->prog, base, &img.prog);
	if (ret)
		return ret;
	img.entry = img.prog.entry;
	img.brk = img.prog.end;
	S.brk_start = S.brk_cur = PG_UP(img.prog.end);
	S.ar.brk_lo = S.brk_start;
	S.ar.brk_hi = S.brk_start + SBX_BRK_MAX < stack_lo ? S.brk_start + SBX_BRK_MAX : stack_lo;
	if (S.brk_start < SBX_HOLE_LO && S.ar.brk_hi > SBX_HOLE_LO)
		S.ar.brk_hi = SBX_HOLE_LO;	/* a break below the monitor's window ends at it */

	/* the stack at the top of the arena, a guard gap below it, mmaps below that */
	ret = sbx_mm_map_fixed(stack_lo, SBX_STACK_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (ret)
		return ret;
	S.ar.mmap_top = stack_lo - SBX_STACK_GAP;

	if (x->interp_open) {
		uint64_t ilo, ihi, ialign, cand;

		span_of(&x->interp, &ilo, &ihi, &ialign);
		cand = arena_find(&S.ar, (ihi - ilo) + ialign, false);
		if (!cand)
			return -ENOMEM;
		cand = (cand + ialign - 1) & ~(ialign - 1);
		ret = map_image(&x->interp, cand, &img.interp);
		if (ret)
			return ret;
		img.has_interp = true;
		img.entry = img.interp.entry;
	}

	dune_elf_default_params(&params, x->argc, x->argv, envp ? envp : (char *const[]){ NULL }, x->execfn);
	ret = dune_elf_build_stack(&img, &params, (void *)(uintptr_t)stack_lo, stack_lo, SBX_STACK_SIZE, &sp);
	if (ret)
		return ret;

	snprintf(S.prog_path, sizeof(S.prog_path), "%s", x->path);
	snprintf(S.fs.exe, sizeof(S.fs.exe), "%s", x->path);
	memset(tf, 0, sizeof(*tf));
	tf->rip = img.entry;
	tf->rsp = sp;
	tf->cs = 0x33;
	tf->ss = 0x2b;
	tf->rflags = 0x202;
	dune_set_ring3_fs(0);
	return 0;
}

int sbx_load(const char *path, int fd, char *const argv[], char *const envp[], struct dune_tf *tf)
{
	struct sbx_exec x;
	int ret;

	(void)fd;
	ret = sbx_prepare(path, argv, &x);
	if (ret)
		return ret;
	ret = sbx_commit(&x, envp, tf);
	sbx_exec_free(&x);
	return ret;
}
