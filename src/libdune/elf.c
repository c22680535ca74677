/*
 * elf.c - x86-64 ELF loader and Linux-compatible initial stack (see dune_elf.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "dune_elf.h"

#define PG		4096UL
#define PG_DOWN(x)	((x) & ~(PG - 1))
#define PG_UP(x)	(((x) + PG - 1) & ~(PG - 1))
#define MAX_PHNUM	128
#define MAX_INTERP	4096

static int read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOEXEC;	/* file shorter than its headers say */
		done += (size_t)n;
	}
	return 0;
}

void dune_elf_close(struct dune_elf *elf)
{
	if (elf->fd >= 0)
		close(elf->fd);
	free(elf->phdr);
	free(elf->interp);
	elf->fd = -1;
	elf->phdr = NULL;
	elf->interp = NULL;
}

static int check_phdrs(struct dune_elf *elf)
{
	int i, nload = 0;
	uint64_t last = 0;

	for (i = 0; i < elf->ehdr.e_phnum; i++) {
		const Elf64_Phdr *ph = &elf->phdr[i];

		if (ph->p_type == PT_INTERP) {
			if (elf->interp || ph->p_filesz < 2 || ph->p_filesz > MAX_INTERP)
				return -ENOEXEC;
			elf->interp = malloc(ph->p_filesz);
			if (!elf->interp)
				return -ENOMEM;
			if (read_at(elf->fd, elf->interp, ph->p_filesz, (off_t)ph->p_offset) ||
			    elf->interp[ph->p_filesz - 1] != '\0')
				return -ENOEXEC;
		}
		if (ph->p_type != PT_LOAD)
			continue;
		/* mmap-style loading needs file offset and address congruent modulo the page */
		if (ph->p_filesz > ph->p_memsz || (ph->p_vaddr - ph->p_offset) % PG ||
		    ph->p_vaddr + ph->p_memsz < ph->p_vaddr || ph->p_vaddr + ph->p_memsz > (1ULL << 47) ||
		    ph->p_vaddr < last)
			return -ENOEXEC;
		last = ph->p_vaddr;	/* the ELF spec requires ascending p_vaddr */
		nload++;
	}
	return nload ? 0 : -ENOEXEC;
}

int dune_elf_open(struct dune_elf *elf, const char *path)
{
	const Elf64_Ehdr *h = &elf->ehdr;
	size_t phsz;
	int ret;

	memset(elf, 0, sizeof(*elf));
	elf->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (elf->fd < 0)
		return -errno;
	ret = read_at(elf->fd, &elf->ehdr, sizeof(elf->ehdr), 0);
	if (ret)
		goto fail;
	ret = -ENOEXEC;
	if (memcmp(h->e_ident, ELFMAG, SELFMAG) || h->e_ident[EI_CLASS] != ELFCLASS64 ||
	    h->e_ident[EI_DATA] != ELFDATA2LSB || h->e_machine != EM_X86_64 ||
	    (h->e_type != ET_EXEC && h->e_type != ET_DYN) ||
	    h->e_phentsize != sizeof(Elf64_Phdr) || h->e_phnum == 0 || h->e_phnum > MAX_PHNUM)
		goto fail;
	phsz = (size_t)h->e_phnum * sizeof(Elf64_Phdr);
	elf->phdr = malloc(phsz);
	if (!elf->phdr) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = read_at(elf->fd, elf->phdr, phsz, (off_t)h->e_phoff);
	if (ret)
		goto fail;
	ret = check_phdrs(elf);
	if (ret)
		goto fail;
	return 0;
fail:
	dune_elf_close(elf);
	return ret;
}

static int pf_to_prot(uint32_t pf)
{
	return (pf & PF_R ? PROT_READ : 0) | (pf & PF_W ? PROT_WRITE : 0) | (pf & PF_X ? PROT_EXEC : 0);
}

/* Program headers in memory: PT_PHDR, else the PT_LOAD that contains them in the file. */
static uint64_t find_phdr(const struct dune_elf *elf, uint64_t bias)
{
	uint64_t off = elf->ehdr.e_phoff, len = (uint64_t)elf->ehdr.e_phnum * sizeof(Elf64_Phdr);
	int i;

	for (i = 0; i < elf->ehdr.e_phnum; i++)
		if (elf->phdr[i].p_type == PT_PHDR)
			return elf->phdr[i].p_vaddr + bias;
	for (i = 0; i < elf->ehdr.e_phnum; i++) {
		const Elf64_Phdr *ph = &elf->phdr[i];

		if (ph->p_type == PT_LOAD && off >= ph->p_offset && off + len <= ph->p_offset + ph->p_filesz)
			return ph->p_vaddr + (off - ph->p_offset) + bias;
	}
	return 0;
}

int dune_elf_load(struct dune_elf *elf, uint64_t base, struct dune_elf_loaded *out)
{
	uint64_t lo = UINT64_MAX, hi = 0, bias, prev_end;
	int i, n = elf->ehdr.e_phnum, ret;
	void *want, *got;

	for (i = 0; i < n; i++) {
		const Elf64_Phdr *ph = &elf->phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (PG_DOWN(ph->p_vaddr) < lo)
			lo = PG_DOWN(ph->p_vaddr);
		if (PG_UP(ph->p_vaddr + ph->p_memsz) > hi)
			hi = PG_UP(ph->p_vaddr + ph->p_memsz);
	}
	if (elf->ehdr.e_type == ET_EXEC) {
		if (base)
			return -EINVAL;
		want = (void *)(uintptr_t)lo;
	} else {
		if (base % PG)
			return -EINVAL;
		want = (void *)(uintptr_t)base;
	}
	/* Reserve the whole span first so the segments keep their relative placement. */
	got = mmap(want, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | (want ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (got == MAP_FAILED)
		return -errno;
	if (want && got != want) {	/* old kernels ignore MAP_FIXED_NOREPLACE */
		munmap(got, hi - lo);
		return -EEXIST;
	}
	bias = (uint64_t)(uintptr_t)got - lo;

	/* Copy every segment into read-write memory first... */
	for (i = 0; i < n; i++) {
		const Elf64_Phdr *ph = &elf->phdr[i];
		uint64_t s = PG_DOWN(ph->p_vaddr + bias), e = PG_UP(ph->p_vaddr + ph->p_memsz + bias);

		if (ph->p_type != PT_LOAD || s == e)
			continue;
		if (mprotect((void *)(uintptr_t)s, e - s, PROT_READ | PROT_WRITE)) {
			ret = -errno;
			goto fail;
		}
		ret = read_at(elf->fd, (void *)(uintptr_t)(ph->p_vaddr + bias), ph->p_filesz, (off_t)ph->p_offset);
		if (ret)
			goto fail;
	}
	/* ...then give each its permissions (a page shared by two segments gets both). */
	prev_end = lo + bias;
	for (i = 0; i < n; i++) {
		const Elf64_Phdr *ph = &elf->phdr[i];
		uint64_t s = PG_DOWN(ph->p_vaddr + bias), e = PG_UP(ph->p_vaddr + ph->p_memsz + bias);
		int prot = pf_to_prot(ph->p_flags), j;

		if (ph->p_type != PT_LOAD || s == e)
			continue;
		if (s > prev_end)
			munmap((void *)(uintptr_t)prev_end, s - prev_end);	/* gap between segments */
		if (e > prev_end)
			prev_end = e;
		if (mprotect((void *)(uintptr_t)s, e - s, prot)) {
			ret = -errno;
			goto fail;
		}
		for (j = 0; j < n; j++) {
			const Elf64_Phdr *q = &elf->phdr[j];
			uint64_t qs, qe, os, oe;

			if (j == i || q->p_type != PT_LOAD)
				continue;
			qs = PG_DOWN(q->p_vaddr + bias);
			qe = PG_UP(q->p_vaddr + q->p_memsz + bias);
			os = s > qs ? s : qs;
			oe = e < qe ? e : qe;
			if (os < oe && mprotect((void *)(uintptr_t)os, oe - os, prot | pf_to_prot(q->p_flags))) {
				ret = -errno;
				goto fail;
			}
		}
	}
	memset(out, 0, sizeof(*out));
	out->bias = bias;
	out->start = lo + bias;
	out->end = hi + bias;
	out->entry = elf->ehdr.e_entry + bias;
	out->phdr = find_phdr(elf, bias);
	out->phent = elf->ehdr.e_phentsize;
	out->phnum = elf->ehdr.e_phnum;
	return 0;
fail:
	munmap(got, hi - lo);
	return ret;
}

int dune_elf_load_program(const char *path, uint64_t prog_base, uint64_t interp_base,
			  struct dune_elf_image *img)
{
	struct dune_elf prog, interp;
	int ret;

	memset(img, 0, sizeof(*img));
	ret = dune_elf_open(&prog, path);
	if (ret)
		return ret;
	ret = dune_elf_load(&prog, prog.ehdr.e_type == ET_DYN ? prog_base : 0, &img->prog);
	if (ret)
		goto out;
	img->entry = img->prog.entry;
	img->brk = img->prog.end;
	if (prog.interp) {
		ret = dune_elf_open(&interp, prog.interp);
		if (ret)
			goto unmap;
		if (interp.interp || interp.ehdr.e_type != ET_DYN)
			ret = -ELIBBAD;	/* an interpreter must be a self-contained shared object */
		else
			ret = dune_elf_load(&interp, interp_base, &img->interp);
		dune_elf_close(&interp);
		if (ret)
			goto unmap;
		img->has_interp = true;
		img->entry = img->interp.entry;
	}
	goto out;
unmap:
	munmap((void *)(uintptr_t)img->prog.start, img->prog.end - img->prog.start);
out:
	dune_elf_close(&prog);
	return ret;
}

void dune_elf_default_params(struct dune_elf_stack_params *p, int argc, char *const *argv,
			     char *const *envp, const char *execfn)
{
	size_t got = 0;

	memset(p, 0, sizeof(*p));
	p->argc = argc;
	p->argv = argv;
	p->envp = envp;
	p->execfn = execfn;
	p->platform = (const char *)getauxval(AT_PLATFORM);
	p->hwcap = getauxval(AT_HWCAP);
	p->hwcap2 = getauxval(AT_HWCAP2);
	p->clktck = getauxval(AT_CLKTCK);
	p->pagesz = PG;
	p->uid = getuid();
	p->euid = geteuid();
	p->gid = getgid();
	p->egid = getegid();
	p->secure = getauxval(AT_SECURE);
	while (got < sizeof(p->random)) {
		ssize_t n = getrandom(p->random + got, sizeof(p->random) - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			break;
	}
}

#define MAX_AUXV	24	/* pairs, AT_NULL included */

int dune_elf_build_stack(const struct dune_elf_image *img, const struct dune_elf_stack_params *p,
			 void *mem, uint64_t va, size_t size, uint64_t *sp_out)
{
	uint64_t top = va + size, pos, execfn_at, platform_at = 0, random_at, sp, *w;
	uint64_t auxv[2 * MAX_AUXV];
	size_t strbytes = 0, envc = 0, na = 0, words, i;
	uint8_t *m = mem;

	if (p->argc < 0 || !p->execfn || (p->argc && !p->argv))
		return -EINVAL;
	/* sizes first, so we know the final sp before writing anything */
	for (i = 0; i < (size_t)p->argc; i++)
		strbytes += strlen(p->argv[i]) + 1;
	for (envc = 0; p->envp && p->envp[envc]; envc++)
		strbytes += strlen(p->envp[envc]) + 1;
	strbytes += strlen(p->execfn) + 1;
	if (size < strbytes + 4096)
		return -E2BIG;

	pos = top - 8;				/* a zero word at the very top */
	execfn_at = pos - (strlen(p->execfn) + 1);
	pos = (top - 8 - strbytes) & ~15ULL;	/* below the strings, 16-aligned */
	if (p->platform) {
		pos -= strlen(p->platform) + 1;
		platform_at = pos;
	}
	pos -= sizeof(p->random);
	random_at = pos;

#define AUX(t, v) do { auxv[na++] = (t); auxv[na++] = (v); } while (0)
	AUX(AT_HWCAP, p->hwcap);
	AUX(AT_PAGESZ, p->pagesz ? p->pagesz : PG);
	AUX(AT_CLKTCK, p->clktck);
	AUX(AT_PHDR, img->prog.phdr);
	AUX(AT_PHENT, img->prog.phent);
	AUX(AT_PHNUM, img->prog.phnum);
	AUX(AT_BASE, img->has_interp ? img->interp.start : 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, img->prog.entry);
	AUX(AT_UID, p->uid);
	AUX(AT_EUID, p->euid);
	AUX(AT_GID, p->gid);
	AUX(AT_EGID, p->egid);
	AUX(AT_SECURE, p->secure);
	AUX(AT_RANDOM, random_at);
	if (p->hwcap2)
		AUX(AT_HWCAP2, p->hwcap2);
	AUX(AT_EXECFN, execfn_at);
	if (p->platform)
		AUX(AT_PLATFORM, platform_at);
	AUX(AT_NULL, 0);
#undef AUX

	words = 1 + (size_t)p->argc + 1 + envc + 1 + na;
	sp = (pos - 8 * words) & ~15ULL;
	if (sp < va + 256)
		return -E2BIG;

	memset(m + (sp - va), 0, top - sp);
	/* strings: execfn highest, then envp, then argv, each list in ascending order */
	memcpy(m + (execfn_at - va), p->execfn, strlen(p->execfn) + 1);
	w = (uint64_t *)(m + (sp - va));
	*w++ = (uint64_t)p->argc;
	pos = top - 8 - strbytes;
	for (i = 0; i < (size_t)p->argc; i++) {
		size_t l = strlen(p->argv[i]) + 1;

		memcpy(m + (pos - va), p->argv[i], l);
		*w++ = pos;
		pos += l;
	}
	*w++ = 0;
	for (i = 0; i < envc; i++) {
		size_t l = strlen(p->envp[i]) + 1;

		memcpy(m + (pos - va), p->envp[i], l);
		*w++ = pos;
		pos += l;
	}
	*w++ = 0;
	memcpy(w, auxv, na * sizeof(auxv[0]));
	if (p->platform)
		memcpy(m + (platform_at - va), p->platform, strlen(p->platform) + 1);
	memcpy(m + (random_at - va), p->random, sizeof(p->random));
	*sp_out = sp;
	return 0;
}
