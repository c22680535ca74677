/*
 * dune_elf.h - x86-64 ELF program loader (elf.c): maps an executable (static or
 * dynamic, ET_EXEC or ET_DYN) and its PT_INTERP interpreter into the
 * calling process's memory and builds the initial stack exactly as Linux's
 * execve does (argc, argv, envp, auxv, strings, AT_RANDOM bytes).
 *
 * Loading uses ordinary mmap/pread/mprotect, so it works on the host and in
 * Dune mode (where libdune mirrors those calls into the guest page table).
 * Starting the program (jumping to the entry point, in ring 3) is the job
 * of the future ring-3 support (user.c).
 */
#ifndef LIBDUNE_DUNE_ELF_H
#define LIBDUNE_DUNE_ELF_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opened ELF file. */
struct dune_elf {
	int fd;
	Elf64_Ehdr ehdr;
	Elf64_Phdr *phdr;	/* ehdr.e_phnum program headers (malloc'd) */
	char *interp;		/* PT_INTERP path (malloc'd), NULL for static programs */
};

/* Where one ELF file ended up in memory. */
struct dune_elf_loaded {
	uint64_t bias;		/* added to every p_vaddr (0 for ET_EXEC) */
	uint64_t start, end;	/* page-rounded span of the PT_LOAD segments */
	uint64_t entry;		/* e_entry + bias */
	uint64_t phdr;		/* address of the program headers in memory, 0 if not loaded */
	uint16_t phent, phnum;
};

/* A program and its interpreter. */
struct dune_elf_image {
	struct dune_elf_loaded prog;
	struct dune_elf_loaded interp;	/* valid if has_interp */
	bool has_interp;
	uint64_t entry;		/* first instruction: the interpreter's entry, else the program's */
	uint64_t brk;		/* initial program break: page-rounded end of the program */
};

/* Values the kernel puts in the auxiliary vector and the string area. */
struct dune_elf_stack_params {
	int argc;
	char *const *argv;	/* argc strings */
	char *const *envp;	/* NULL-terminated */
	const char *execfn;	/* AT_EXECFN string (the path given to execve) */
	const char *platform;	/* AT_PLATFORM string ("x86_64"), NULL: no AT_PLATFORM */
	uint8_t random[16];	/* AT_RANDOM bytes */
	uint64_t hwcap, hwcap2;	/* AT_HWCAP; AT_HWCAP2 only if non-zero */
	uint64_t clktck, pagesz;
	uint64_t uid, euid, gid, egid, secure;
};

/*
 * Open path and validate it: ELFCLASS64, little-endian, EM_X86_64,
 * ET_EXEC or ET_DYN, sane program headers, at most one PT_INTERP.
 * 0, -errno from open/read, -ENOEXEC (not a loadable x86-64 ELF), -ENOMEM.
 */
int dune_elf_open(struct dune_elf *elf, const char *path);

/* Release what dune_elf_open allocated (loaded memory stays mapped). */
void dune_elf_close(struct dune_elf *elf);

/*
 * Map elf's PT_LOAD segments: file bytes copied, the rest of each segment
 * zero, each page with its segment's permissions (the union where two
 * segments share a page), gaps between segments unmapped.  ET_EXEC goes at
 * its link addresses (base must be 0); ET_DYN is placed with its lowest
 * segment at base (page aligned; 0: wherever mmap puts it).  Existing
 * mappings are never replaced (-EEXIST).  0 or -errno/-ENOEXEC/-EINVAL.
 */
int dune_elf_load(struct dune_elf *elf, uint64_t base, struct dune_elf_loaded *out);

/*
 * dune_elf_open + dune_elf_load of path at prog_base and, if it has a
 * PT_INTERP, of the interpreter at interp_base.  Fills img.  0 or -errno.
 */
int dune_elf_load_program(const char *path, uint64_t prog_base, uint64_t interp_base,
			  struct dune_elf_image *img);

/*
 * Defaults for p taken from the running process as the kernel gave them to
 * it (getauxval: AT_HWCAP, AT_HWCAP2, AT_CLKTCK, AT_PLATFORM, ids,
 * AT_SECURE), fresh getrandom() bytes, and the given argv/envp/execfn.
 */
void dune_elf_default_params(struct dune_elf_stack_params *p, int argc, char *const *argv,
			     char *const *envp, const char *execfn);

/*
 * Build the initial stack of img in the stack [va, va+size), whose bytes
 * are at mem in the calling process (mem == (void *)va when building in
 * place).  Layout, from the top: 8 zero bytes, execfn, the envp strings,
 * the argv strings (argv[0] lowest), alignment to 16, the platform string,
 * the 16 random bytes, then (16-byte aligned, as Linux's STACK_ROUND)
 * argc, argv[], NULL, envp[], NULL, auxv pairs ending with AT_NULL.
 * Every byte of [*sp, va+size) is written (gaps are zero); nothing below
 * *sp is.  Auxv order: AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT,
 * AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID,
 * AT_SECURE, AT_RANDOM, AT_HWCAP2 (if non-zero), AT_EXECFN, AT_PLATFORM
 * (if given), AT_NULL; no AT_SYSINFO_EHDR (the new image has no vDSO).
 * 0 or -E2BIG (does not fit) / -EINVAL.
 */
int dune_elf_build_stack(const struct dune_elf_image *img, const struct dune_elf_stack_params *p,
			 void *mem, uint64_t va, size_t size, uint64_t *sp);

#ifdef __cplusplus
}
#endif

#endif /* LIBDUNE_DUNE_ELF_H */
