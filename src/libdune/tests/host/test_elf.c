/*
 * Host tests for elf.c: load a real static (-static -no-pie) and a dynamic
 * PIE build of tests/host/elf_hello.c (and its interpreter) into this
 * process, check every segment's bytes and permissions, the entry points and
 * bases, and the initial stack byte by byte against a reference computed
 * here independently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"
#include "../../dune_elf.h"
#include "../../maps.h"

#ifndef ELF_TEST_DIR
#define ELF_TEST_DIR "build/tests/host"
#endif

/* ---- protection of an address per /proc/self/maps ---- */

struct prot_query {
	uint64_t addr;
	int prot;
};

static int find_prot(const struct maps_entry *e, void *arg)
{
	struct prot_query *q = arg;

	if (q->addr >= e->start && q->addr < e->end) {
		q->prot = e->prot & (MAPS_R | MAPS_W | MAPS_X);
		return 1;
	}
	return 0;
}

static int prot_at(uint64_t addr)
{
	static char buf[1 << 20];
	struct prot_query q = { addr, -1 };
	ssize_t n, len = 0;
	int fd = open("/proc/self/maps", O_RDONLY);

	while (fd >= 0 && (n = read(fd, buf + len, sizeof(buf) - (size_t)len)) > 0)
		len += n;
	if (fd >= 0)
		close(fd);
	maps_parse(buf, (size_t)len, find_prot, &q);
	return q.prot;
}

static int pf_prot(uint32_t f)
{
	return (f & PF_R ? MAPS_R : 0) | (f & PF_W ? MAPS_W : 0) | (f & PF_X ? MAPS_X : 0);
}

/* Every PT_LOAD: file bytes, zero fill up to the page end, per-page permissions. */
static void check_segments(const struct dune_elf *elf, const struct dune_elf_loaded *l)
{
	int i, j;

	for (i = 0; i < elf->ehdr.e_phnum; i++) {
		const Elf64_Phdr *ph = &elf->phdr[i];
		const uint8_t *mem = (const uint8_t *)(uintptr_t)(ph->p_vaddr + l->bias);
		uint8_t *file;
		uint64_t a, zero_end;

		if (ph->p_type != PT_LOAD)
			continue;
		file = malloc(ph->p_filesz + 1);
		CHECK(pread(elf->fd, file, ph->p_filesz, (off_t)ph->p_offset) == (ssize_t)ph->p_filesz);
		CHECK(memcmp(mem, file, ph->p_filesz) == 0);
		free(file);
		/* bss: zero up to memsz, and the rest of the last page unless another segment owns it */
		zero_end = ph->p_memsz;
		for (a = ph->p_filesz; a < zero_end; a++)
			if (mem[a]) {
				CHECK_EQ(ph->p_vaddr + a, 0);	/* report the first non-zero byte */
				break;
			}
		for (a = (ph->p_vaddr + l->bias) & ~(4096ULL - 1); a < ph->p_vaddr + ph->p_memsz + l->bias; a += 4096ULL) {
			int want = pf_prot(ph->p_flags);

			for (j = 0; j < elf->ehdr.e_phnum; j++) {
				const Elf64_Phdr *q = &elf->phdr[j];
				uint64_t qs = (q->p_vaddr + l->bias) & ~(4096ULL - 1);

				if (q->p_type == PT_LOAD && a >= qs && a < q->p_vaddr + q->p_memsz + l->bias)
					want |= pf_prot(q->p_flags);
			}
			if (prot_at(a) != want) {
				CHECK_EQ(prot_at(a), want);
				CHECK_EQ(a, 0);
				break;
			}
		}
	}
	CHECK_EQ(l->entry, elf->ehdr.e_entry + l->bias);
	CHECK_EQ(l->phnum, elf->ehdr.e_phnum);
	CHECK_EQ(l->phent, sizeof(Elf64_Phdr));
	/* the program headers are really there */
	CHECK(l->phdr != 0);
	if (l->phdr)
		CHECK(memcmp((void *)(uintptr_t)l->phdr, elf->phdr, l->phnum * sizeof(Elf64_Phdr)) == 0);
}

static void test_elf_static(void)
{
	struct dune_elf elf;
	struct dune_elf_loaded l;
	struct dune_elf_image img;
	int r;

	CHECK_EQ(dune_elf_open(&elf, ELF_TEST_DIR "/elf_static"), 0);
	CHECK_EQ(elf.ehdr.e_type, ET_EXEC);
	CHECK(elf.interp == NULL);
	CHECK_EQ(dune_elf_load(&elf, 0x1000000, &l), -EINVAL);	/* ET_EXEC cannot move */
	r = dune_elf_load(&elf, 0, &l);
	CHECK_EQ(r, 0);
	if (!r) {
		CHECK_EQ(l.bias, 0);
		check_segments(&elf, &l);
		/* loading again over itself is refused, not clobbered */
		CHECK_EQ(dune_elf_load(&elf, 0, &l), -EEXIST);
		munmap((void *)(uintptr_t)l.start, l.end - l.start);
	}
	dune_elf_close(&elf);

	/* the one-call form */
	CHECK_EQ(dune_elf_load_program(ELF_TEST_DIR "/elf_static", 0, 0, &img), 0);
	CHECK(!img.has_interp);
	CHECK_EQ(img.entry, img.prog.entry);
	CHECK_EQ(img.brk, img.prog.end);
	munmap((void *)(uintptr_t)img.prog.start, img.prog.end - img.prog.start);

	CHECK_EQ(dune_elf_open(&elf, ELF_TEST_DIR "/nonexistent"), -ENOENT);
	CHECK_EQ(dune_elf_open(&elf, "/proc/self/maps"), -ENOEXEC);
}

#define PROG_BASE	0x200000000000ULL
#define INTERP_BASE	0x300000000000ULL

static void test_elf_dynamic(void)
{
	struct dune_elf elf, interp;
	struct dune_elf_image img;
	int r;

	CHECK_EQ(dune_elf_open(&elf, ELF_TEST_DIR "/elf_dynamic"), 0);
	CHECK_EQ(elf.ehdr.e_type, ET_DYN);
	CHECK(elf.interp && strcmp(elf.interp, "/lib64/ld-linux-x86-64.so.2") == 0);
	r = dune_elf_load_program(ELF_TEST_DIR "/elf_dynamic", PROG_BASE, INTERP_BASE, &img);
	CHECK_EQ(r, 0);
	if (!r) {
		CHECK(img.has_interp);
		CHECK_EQ(img.prog.start, PROG_BASE);
		CHECK_EQ(img.interp.start, INTERP_BASE);
		check_segments(&elf, &img.prog);
		CHECK_EQ(dune_elf_open(&interp, elf.interp), 0);
		check_segments(&interp, &img.interp);
		CHECK_EQ(img.entry, interp.ehdr.e_entry + INTERP_BASE);
		CHECK_EQ(img.prog.entry, elf.ehdr.e_entry + PROG_BASE);
		dune_elf_close(&interp);
		munmap((void *)(uintptr_t)img.prog.start, img.prog.end - img.prog.start);
		munmap((void *)(uintptr_t)img.interp.start, img.interp.end - img.interp.start);
	}
	dune_elf_close(&elf);
}

/* ---- initial stack ---- */

#define STK_VA		0x7ffff0000000ULL
#define STK_SIZE	(64 * 1024)

static uint8_t stk[STK_SIZE], ref[STK_SIZE];

static void put64(uint64_t va, uint64_t v)
{
	memcpy(ref + (va - STK_VA), &v, 8);
}

static void test_elf_stack(void)
{
	char *argv[] = { "prog", "-x", "hello world", NULL };
	char *envp[] = { "A=1", "PATH=/bin:/usr/bin", NULL };
	struct dune_elf_stack_params p;
	struct dune_elf_image img;
	uint64_t sp = 0, top = STK_VA + STK_SIZE, s, plat, rnd, want_sp, a, str[5];
	int i, n;

	memset(&img, 0, sizeof(img));
	img.prog.phdr = 0x400040;
	img.prog.phent = 56;
	img.prog.phnum = 11;
	img.prog.entry = 0x401000;
	img.has_interp = true;
	img.interp.start = 0x7f0000000000ULL;
	memset(&p, 0, sizeof(p));
	p.argc = 3;
	p.argv = argv;
	p.envp = envp;
	p.execfn = "/usr/bin/prog";
	p.platform = "x86_64";
	for (i = 0; i < 16; i++)
		p.random[i] = (uint8_t)(0xa0 + i);
	p.hwcap = 0x178bfbff;
	p.hwcap2 = 2;
	p.clktck = 100;
	p.pagesz = 4096;
	p.uid = 1000;
	p.euid = 1001;
	p.gid = 1002;
	p.egid = 1003;
	p.secure = 0;

	memset(stk, 0xcc, sizeof(stk));
	CHECK_EQ(dune_elf_build_stack(&img, &p, stk, STK_VA, STK_SIZE, &sp), 0);

	/*
	 * Reference, by hand.  Strings (20 + 23 + 14 = 57 bytes incl. NULs) end 8
	 * bytes below the top: "prog\0-x\0hello world\0A=1\0PATH=/bin:/usr/bin\0/usr/bin/prog\0".
	 */
	memset(ref, 0xcc, sizeof(ref));
	s = top - 8 - 57;
	str[0] = s;		/* prog */
	str[1] = s + 5;		/* -x */
	str[2] = s + 8;		/* hello world */
	str[3] = s + 20;	/* A=1 */
	str[4] = s + 24;	/* PATH=... */
	memset(ref + (s - STK_VA), 0, top - s);
	memcpy(ref + (s - STK_VA), "prog\0-x\0hello world\0A=1\0PATH=/bin:/usr/bin\0/usr/bin/prog", 57);
	plat = ((top - 8 - 57) & ~15ULL) - 7;	/* "x86_64\0" */
	rnd = plat - 16;
	/* 19 auxv pairs (HWCAP2 and PLATFORM included) = 38 words; argc + 4 + 3 = 8 words */
	want_sp = (rnd - 8 * (38 + 8)) & ~15ULL;
	CHECK_EQ(sp, want_sp);
	CHECK_EQ(sp % 16, 0);
	memset(ref + (want_sp - STK_VA), 0, s - want_sp);
	memcpy(ref + (plat - STK_VA), "x86_64", 7);
	memcpy(ref + (rnd - STK_VA), p.random, 16);
	a = want_sp;
	put64(a, 3), a += 8;
	for (i = 0; i < 3; i++)
		put64(a, str[i]), a += 8;
	put64(a, 0), a += 8;
	put64(a, str[3]), a += 8;
	put64(a, str[4]), a += 8;
	put64(a, 0), a += 8;
	{
		const uint64_t aux[] = {
			AT_HWCAP, 0x178bfbff, AT_PAGESZ, 4096, AT_CLKTCK, 100,
			AT_PHDR, 0x400040, AT_PHENT, 56, AT_PHNUM, 11,
			AT_BASE, 0x7f0000000000ULL, AT_FLAGS, 0, AT_ENTRY, 0x401000,
			AT_UID, 1000, AT_EUID, 1001, AT_GID, 1002, AT_EGID, 1003,
			AT_SECURE, 0, AT_RANDOM, rnd, AT_HWCAP2, 2,
			AT_EXECFN, top - 8 - 14, AT_PLATFORM, plat, AT_NULL, 0,
		};

		n = (int)(sizeof(aux) / sizeof(aux[0]));
		CHECK_EQ(n, 38);
		for (i = 0; i < n; i++)
			put64(a, aux[i]), a += 8;
	}
	CHECK(a <= rnd);
	for (i = 0; i < STK_SIZE; i++)
		if (stk[i] != ref[i]) {
			CHECK_EQ(STK_VA + i, 0);	/* first differing address */
			CHECK_EQ(stk[i], ref[i]);
			break;
		}

	/* without platform/hwcap2 the vector is shorter; still 16-aligned */
	p.platform = NULL;
	p.hwcap2 = 0;
	CHECK_EQ(dune_elf_build_stack(&img, &p, stk, STK_VA, STK_SIZE, &sp), 0);
	CHECK_EQ(sp, ((((top - 8 - 57) & ~15ULL) - 16) - 8 * (34 + 8)) & ~15ULL);
	/* too small */
	CHECK_EQ(dune_elf_build_stack(&img, &p, stk, STK_VA, 1024, &sp), -E2BIG);
}

static void test_elf_default_params(void)
{
	struct dune_elf_stack_params p;
	char *argv[] = { "x", NULL };
	static const uint8_t zero[16];

	dune_elf_default_params(&p, 1, argv, argv + 1, "/x");
	CHECK(p.platform && strcmp(p.platform, "x86_64") == 0);
	CHECK_EQ(p.uid, getuid());
	CHECK_EQ(p.pagesz, 4096);
	CHECK(p.clktck > 0);
	CHECK(memcmp(p.random, zero, 16) != 0);
}

/*
 * End to end: in a forked child, load the program, build its stack in place
 * and jump to the entry point as the kernel would (rdx = 0: no atexit hook).
 * The program's output proves segments, auxv and stack are usable by real
 * startup code (glibc's static start-up, or ld.so + libc).
 */
static void run_loaded(const char *path, uint64_t base, uint64_t ibase, const char *expect)
{
	int pipefd[2], status = -1;
	char out[256];
	ssize_t n = 0, r;
	pid_t pid;

	CHECK_EQ(pipe(pipefd), 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "hello-from-loader", NULL };
		char *envp[] = { "DUNE_ELF_TEST=1", NULL };
		struct dune_elf_stack_params p;
		struct dune_elf_image img;
		uint64_t sp;
		size_t sz = 1 << 20;
		void *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		dup2(pipefd[1], 1);
		if (stack == MAP_FAILED || dune_elf_load_program(path, base, ibase, &img))
			_exit(90);
		dune_elf_default_params(&p, 1, argv, envp, path);
		if (dune_elf_build_stack(&img, &p, stack, (uintptr_t)stack, sz, &sp))
			_exit(91);
		__asm__ volatile("mov %0, %%rsp; xor %%edx, %%edx; jmp *%1"
				 : : "D"(sp), "S"(img.entry) : "memory");
		_exit(92);
	}
	close(pipefd[1]);
	while (n < (ssize_t)sizeof(out) - 1 && (r = read(pipefd[0], out + n, sizeof(out) - 1 - (size_t)n)) > 0)
		n += r;
	out[n] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (strcmp(out, expect) != 0) {
		fprintf(stderr, "    got \"%s\" (status %#x)\n", out, status);
		CHECK(strcmp(out, expect) == 0);
	}
}

static void test_elf_run_static(void)
{
	run_loaded(ELF_TEST_DIR "/elf_static", 0, 0, "hello-from-loader 42 1\n");
}

static void test_elf_run_dynamic(void)
{
	run_loaded(ELF_TEST_DIR "/elf_dynamic", PROG_BASE, INTERP_BASE, "hello-from-loader 42 1\n");
}

const struct test_case elf_tests[] = {
	{ "elf: run the loaded static program", test_elf_run_static },
	{ "elf: run the loaded PIE through its interpreter", test_elf_run_dynamic },
	{ "elf: load a static executable", test_elf_static },
	{ "elf: load a PIE and its interpreter", test_elf_dynamic },
	{ "elf: initial stack byte by byte", test_elf_stack },
	{ "elf: default params from the host", test_elf_default_params },
	TEST_LIST_END
};
