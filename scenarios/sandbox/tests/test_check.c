/*
 * test_check.c - the syscall table against the kernel's, and the argument checker: for every
 * system call, every pointer argument its signature names, every kind of bad pointer, the call is
 * refused; good arguments pass; nested pointers (iovecs, msghdrs, ancillary fds) and
 * value-results are checked and copied; the checker itself never reads outside the program's memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "test.h"
#include "check.h"
#include "systab.h"

#define ARENA_SIZE	(1UL << 20)
#define MON_FD		950

static uint8_t *arena;		/* the "program's memory" of these tests */
static uintptr_t lo, hi, gap_lo, gap_hi, mon_lo, mon_hi;	/* gap: unmapped page; mon: the monitor's window */
static uint8_t monitor_mem[4096];
static int outside_reads;
static struct sbx_uaccess U;

static int m_copy_in(void *dst, uintptr_t src, size_t n, void *ctx)
{
	(void)ctx;
	if (src < lo || src + n > hi || src + n < src || (src < mon_hi && src + n > mon_lo)) {
		outside_reads++;	/* the checker must never ask for this */
		return -EFAULT;
	}
	if (src < gap_hi && src + n > gap_lo)
		return -EFAULT;		/* an unmapped page inside the arena */
	memcpy(dst, (void *)src, n);
	return 0;
}

static int m_copy_out(uintptr_t dst, const void *src, size_t n, void *ctx)
{
	(void)ctx;
	if (dst < lo || dst + n > hi || (dst < mon_hi && dst + n > mon_lo)) {
		outside_reads++;
		return -EFAULT;
	}
	memcpy((void *)dst, src, n);
	return 0;
}

static bool m_monitor_fd(int fd, void *ctx)
{
	(void)ctx;
	return fd >= 900 && fd < 1024;
}

static bool m_writable(int fd, void *ctx)
{
	(void)ctx;
	return fd != 5;
}

static void setup(void)
{
	if (arena)
		return;
	arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	lo = (uintptr_t)arena;
	hi = lo + ARENA_SIZE;
	gap_lo = lo + 0x80000;
	gap_hi = gap_lo + 4096;
	mon_lo = lo + 0xe0000;
	mon_hi = lo + 0xf0000;
	U.lo = lo;
	U.hi = hi;
	U.hole_lo = mon_lo;
	U.hole_hi = mon_hi;
	U.copy_in = m_copy_in;
	U.copy_out = m_copy_out;
	U.monitor_fd = m_monitor_fd;
	U.fd_writable = m_writable;
}

/* ---- good arguments for any signature ---- */

struct kmsg {
	uint64_t name;
	uint32_t namelen, pad0;
	uint64_t iov, iovlen, control, controllen;
	int32_t flags, pad1;
};

static uintptr_t slot(int i)
{
	return lo + 0x1000 + (uintptr_t)i * 0x4000;	/* 16 KiB per argument, below the hole */
}

static void put_iov(uintptr_t at, uintptr_t bufs)
{
	uint64_t *v = (uint64_t *)at;

	v[0] = bufs;
	v[1] = 16;
	v[2] = bufs + 64;
	v[3] = 16;
}

static void put_msghdr(uintptr_t at, uintptr_t space)
{
	struct kmsg *m = (struct kmsg *)at;
	struct cmsghdr *c = (struct cmsghdr *)(space + 0x800);

	memset(m, 0, sizeof(*m));
	m->name = space;
	m->namelen = 16;
	put_iov(space + 0x100, space + 0x200);
	m->iov = space + 0x100;
	m->iovlen = 2;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	*(int *)CMSG_DATA(c) = 3;
	m->control = (uintptr_t)c;
	m->controllen = CMSG_SPACE(sizeof(int));
}

/* Is arg i the length/count of another argument?  Which kind refers to it? */
static int referrer(const struct sc_desc *d, int i)
{
	int j;

	for (j = 0; j < d->nargs; j++) {
		switch (d->args[j].kind) {
		case A_IN: case A_OUT: case A_INOUT: case A_IN_N: case A_OUT_N: case A_INOUT_N:
		case A_IOV_IN: case A_IOV_OUT: case A_SOCKADDR_IN: case A_SOCKADDR_OUT: case A_OUT_LENP:
		case A_MMSG_IN: case A_MMSG_OUT: case A_FDSET: case A_ADDR: case A_SIGSET:
			if (d->args[j].param == i && j != i)
				return d->args[j].kind;
			break;
		default:
			break;
		}
	}
	return -1;
}

static void good_args(const struct sc_desc *d, uint64_t a[6])
{
	int i;

	memset(arena, 0, 0x80000);
	for (i = 0; i < 6; i++)
		a[i] = 0;
	for (i = 0; i < d->nargs; i++) {
		uintptr_t s = slot(i);
		int ref;

		switch (d->args[i].kind) {
		case A_INT:
			ref = referrer(d, i);
			a[i] = ref == A_FDSET ? 64 : ref == A_SIGSET ? 8 : ref == A_ADDR ? 4096 :
			       (ref == A_IOV_IN || ref == A_IOV_OUT || ref == A_MMSG_IN || ref == A_MMSG_OUT ||
				ref == A_IN_N || ref == A_OUT_N || ref == A_INOUT_N) ? 2 : ref >= 0 ? 16 : 0;
			break;
		case A_FD: case A_FD_W: case A_DIRFD:
			a[i] = 3;
			break;
		case A_NEWFD:
			a[i] = 4;
			break;
		case A_PATH: case A_STR:
			strcpy((char *)s, "/tmp/x");
			a[i] = s;
			break;
		case A_IOV_IN: case A_IOV_OUT:
			put_iov(s, s + 0x100);
			a[i] = s;
			break;
		case A_MSGHDR_IN: case A_MSGHDR_OUT:
			put_msghdr(s, s + 0x1000);
			a[i] = s;
			break;
		case A_MMSG_IN: case A_MMSG_OUT:
			put_msghdr(s, s + 0x1000);
			put_msghdr(s + 64, s + 0x2000);
			a[i] = s;
			break;
		case A_LENP:
			*(uint32_t *)s = 16;
			a[i] = s;
			break;
		case A_ADDR:
			a[i] = s;	/* page aligned */
			break;
		default:
			a[i] = s;
			break;
		}
	}
}

static bool checked_kind(int k)
{
	return sbx_kind_is_pointer(k) && k != A_PTR;
}

/* ---- the tests ---- */

static void table_matches_kernel_headers(void)
{
	FILE *f = fopen("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "r");
	char line[256], name[128];
	int nr, seen = 0;

	if (!f)
		f = fopen("/usr/include/asm/unistd_64.h", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "#define __NR_%127s %d", name, &nr) != 2)
			continue;
		if (nr >= SBX_NR_MAX)
			continue;	/* newer than Linux 6.1: unknown to the sandbox, answered ENOSYS */
		seen++;
		CHECK_MSG(sbx_systab[nr].name && !strcmp(sbx_systab[nr].name, name), "nr %d: header %s, table %s", nr,
			  name, sbx_systab[nr].name ? sbx_systab[nr].name : "(none)");
		CHECK_MSG(sbx_syscall_nr(name) == nr, "%s", name);
	}
	fclose(f);
	CHECK(seen > 350);
	for (nr = 0; nr < SBX_NR_MAX; nr++)
		if (sbx_systab[nr].name)
			seen--;
	CHECK_MSG(seen == 0, "%d table entries the header does not have", -seen);
}

static void signatures_are_consistent(void)
{
	int nr, i;

	for (nr = 0; nr < SBX_NR_MAX; nr++) {
		const struct sc_desc *d = sbx_syscall((uint64_t)nr);

		if (!d)
			continue;
		CHECK_MSG(d->nargs <= 6 && d->group < G_COUNT, "%s", d->name);
		for (i = 0; i < d->nargs; i++) {
			const struct sc_arg *a = &d->args[i];

			CHECK_MSG(a->name && *a->name, "%s arg %d", d->name, i);
			switch (a->kind) {
			case A_IN: case A_OUT: case A_INOUT: case A_IN_N: case A_OUT_N: case A_INOUT_N:
			case A_IOV_IN: case A_IOV_OUT: case A_SOCKADDR_IN: case A_MMSG_IN: case A_MMSG_OUT:
			case A_FDSET: case A_ADDR: case A_SIGSET:
				CHECK_MSG(a->param < d->nargs && d->args[a->param].kind == A_INT, "%s.%s: length arg %d",
					  d->name, a->name, a->param);
				break;
			case A_SOCKADDR_OUT: case A_OUT_LENP:
				CHECK_MSG(a->param < d->nargs && d->args[a->param].kind == A_LENP, "%s.%s", d->name, a->name);
				break;
			case A_IN_SZ: case A_OUT_SZ: case A_INOUT_SZ:
				CHECK_MSG(a->size > 0 && a->size <= 4096, "%s.%s", d->name, a->name);
				break;
			default:
				break;
			}
			if (a->kind == A_IN_N || a->kind == A_OUT_N || a->kind == A_INOUT_N)
				CHECK_MSG(a->size > 0, "%s.%s", d->name, a->name);
		}
		/* a call that may be passed through with a pointer must say what the pointer is */
		if (!(d->flags & (F_EMUL | F_SPECIAL | F_PATH | F_NOSYS)) && d->group != G_NEVER && d->group != G_ADMIN)
			for (i = 0; i < d->nargs; i++)
				CHECK_MSG(d->args[i].kind != A_PTR, "%s.%s is an unchecked pointer on the generic path",
					  d->name, d->args[i].name);
	}
}

static void good_arguments_pass(void)
{
	int nr, n = 0;

	setup();
	outside_reads = 0;
	for (nr = 0; nr < SBX_NR_MAX; nr++) {
		const struct sc_desc *d = sbx_syscall((uint64_t)nr);
		struct sbx_checked c;
		uint64_t a[6];
		int r;

		if (!d)
			continue;
		good_args(d, a);
		r = sbx_check(d, a, &U, &c);
		CHECK_MSG(r == 0, "%s: %d (arg %d)", d->name, r, c.bad_arg);
		sbx_checked_free(&c);
		n++;
	}
	CHECK(n > 350);
	CHECK_MSG(outside_reads == 0, "%d reads outside the arena", outside_reads);
}

/* every syscall x every checked pointer argument x every bad pointer */
static void bad_pointers_are_refused(void)
{
	const uint64_t bad[] = {
		0x1000,				/* below the arena, not NULL */
		(uint64_t)(uintptr_t)monitor_mem,	/* the monitor's own memory */
		0,				/* filled in: the arena's end */
		0xffff800000001000ULL,		/* the kernel's half */
		0x0000800000000000ULL,		/* just past user space */
		0xfffffffffffffff0ULL,		/* wraps around */
		1,				/* filled in: inside the monitor's window */
	};
	int nr, i, checked = 0, calls = 0;
	size_t b;

	setup();
	outside_reads = 0;
	for (nr = 0; nr < SBX_NR_MAX; nr++) {
		const struct sc_desc *d = sbx_syscall((uint64_t)nr);
		bool any = false;

		if (!d)
			continue;
		for (i = 0; i < d->nargs; i++) {
			if (!checked_kind(d->args[i].kind))
				continue;
			any = true;
			for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
				struct sbx_checked c;
				uint64_t a[6], v = bad[b] == 1 ? mon_lo + 0x100 : bad[b] ? bad[b] : hi;
				int r;

				good_args(d, a);
				a[i] = v;
				r = sbx_check(d, a, &U, &c);
				if (d->args[i].kind == A_ADDR)
					CHECK_MSG(r == -ENOMEM, "%s.%s = %#llx: %d", d->name, d->args[i].name,
						  (unsigned long long)v, r);
				else
					CHECK_MSG(r == -EFAULT, "%s.%s = %#llx: %d", d->name, d->args[i].name,
						  (unsigned long long)v, r);
				if (r)
					CHECK_MSG(c.bad_arg == i || d->args[i].kind == A_LENP, "%s: bad_arg %d, want %d",
						  d->name, c.bad_arg, i);
				sbx_checked_free(&c);
				checked++;
			}
		}
		calls += any;
	}
	printf("  %d calls with checked pointers, %d (call, argument, bad pointer) cases\n", calls, checked);
	CHECK(calls > 150 && checked > 1000);
	CHECK_MSG(outside_reads == 0, "%d reads outside the arena", outside_reads);
}

/* fixed-size structs and arrays that start inside but end outside are refused too */
static void straddling_structs_are_refused(void)
{
	int nr, i, n = 0;

	setup();
	for (nr = 0; nr < SBX_NR_MAX; nr++) {
		const struct sc_desc *d = sbx_syscall((uint64_t)nr);

		if (!d)
			continue;
		for (i = 0; i < d->nargs; i++) {
			int k = d->args[i].kind;
			struct sbx_checked c;
			uint64_t a[6];
			int r;

			if (k != A_IN_SZ && k != A_OUT_SZ && k != A_INOUT_SZ && k != A_IN_N && k != A_OUT_N &&
			    k != A_INOUT_N && k != A_IOV_IN && k != A_IOV_OUT && k != A_MSGHDR_IN && k != A_MSGHDR_OUT &&
			    k != A_LENP)
				continue;
			good_args(d, a);
			a[i] = hi - 2;	/* two bytes left: every struct here is bigger */
			r = sbx_check(d, a, &U, &c);
			CHECK_MSG(r == -EFAULT, "%s.%s straddling the end: %d", d->name, d->args[i].name, r);
			sbx_checked_free(&c);
			good_args(d, a);
			a[i] = mon_lo - 2;	/* running into the monitor's window */
			r = sbx_check(d, a, &U, &c);
			CHECK_MSG(r == -EFAULT, "%s.%s straddling the monitor: %d", d->name, d->args[i].name, r);
			sbx_checked_free(&c);
			n++;
		}
	}
	CHECK(n > 100);
}

static void monitor_fds_are_refused(void)
{
	int nr, i, n = 0;

	setup();
	for (nr = 0; nr < SBX_NR_MAX; nr++) {
		const struct sc_desc *d = sbx_syscall((uint64_t)nr);

		if (!d)
			continue;
		for (i = 0; i < d->nargs; i++) {
			int k = d->args[i].kind;
			uint64_t vals[] = { MON_FD, (1ULL << 32) | MON_FD }, a[6];
			size_t v;

			if (k != A_FD && k != A_FD_W && k != A_DIRFD && k != A_NEWFD)
				continue;
			for (v = 0; v < 2; v++) {
				struct sbx_checked c;
				int r;

				good_args(d, a);
				a[i] = vals[v];
				r = sbx_check(d, a, &U, &c);
				CHECK_MSG(r == -EBADF, "%s.%s = %#llx: %d", d->name, d->args[i].name,
					  (unsigned long long)vals[v], r);
				sbx_checked_free(&c);
				n++;
			}
			if (k == A_FD_W) {
				struct sbx_checked c;

				good_args(d, a);
				a[i] = 5;	/* opened where the policy does not allow writes */
				CHECK_MSG(sbx_check(d, a, &U, &c) == -EPERM, "%s", d->name);
				sbx_checked_free(&c);
			}
		}
	}
	CHECK(n > 100);
}

static void nested_pointers_are_checked(void)
{
	const struct sc_desc *wv = sbx_syscall(SYS_writev), *sm = sbx_syscall(SYS_sendmsg),
			     *rm = sbx_syscall(SYS_recvmsg), *smm = sbx_syscall(SYS_sendmmsg);
	struct sbx_checked c;
	struct kmsg *m;
	uint64_t a[6], *iov;

	setup();
	/* an iovec entry pointing at the monitor */
	good_args(wv, a);
	iov = (uint64_t *)(uintptr_t)a[1];
	iov[2] = (uintptr_t)monitor_mem;
	CHECK(sbx_check(wv, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	/* the host gets a copy of the iovec array, not the program's (no second look by a thread) */
	good_args(wv, a);
	CHECK(sbx_check(wv, a, &U, &c) == 0);
	CHECK(c.a[1] != a[1] && !(c.a[1] >= lo && c.a[1] < hi));
	iov = (uint64_t *)(uintptr_t)a[1];
	iov[0] = (uintptr_t)monitor_mem;	/* changed after the check: the copy is what counts */
	CHECK(((uint64_t *)(uintptr_t)c.a[1])[0] != (uintptr_t)monitor_mem);
	sbx_checked_free(&c);
	/* too many iovecs */
	good_args(wv, a);
	a[2] = SBX_IOV_MAX + 1;
	CHECK(sbx_check(wv, a, &U, &c) == -EINVAL);
	sbx_checked_free(&c);

	/* msghdr: name, iov, control; SCM_RIGHTS naming a monitor fd */
	good_args(sm, a);
	m = (struct kmsg *)(uintptr_t)a[1];
	m->name = (uintptr_t)monitor_mem;
	CHECK(sbx_check(sm, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	good_args(sm, a);
	m = (struct kmsg *)(uintptr_t)a[1];
	((uint64_t *)(uintptr_t)m->iov)[0] = 0xffff800000000000ULL;
	CHECK(sbx_check(sm, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	good_args(sm, a);
	m = (struct kmsg *)(uintptr_t)a[1];
	m->control = hi - 8;
	CHECK(sbx_check(sm, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	good_args(sm, a);
	m = (struct kmsg *)(uintptr_t)a[1];
	*(int *)CMSG_DATA((struct cmsghdr *)(uintptr_t)m->control) = MON_FD;
	CHECK(sbx_check(sm, a, &U, &c) == -EBADF);
	sbx_checked_free(&c);
	/* sendmmsg: the second entry is bad */
	good_args(smm, a);
	m = (struct kmsg *)(uintptr_t)(a[1] + 64);
	m->iov = (uintptr_t)monitor_mem;
	CHECK(sbx_check(smm, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	/* recvmsg: the kernel's updates to namelen/controllen/flags come back to the program */
	good_args(rm, a);
	CHECK(sbx_check(rm, a, &U, &c) == 0);
	((struct kmsg *)(uintptr_t)c.a[1])->namelen = 7;
	((struct kmsg *)(uintptr_t)c.a[1])->flags = 0x40;
	CHECK(sbx_check_after(rm, &c, &U, 10) == 0);
	m = (struct kmsg *)(uintptr_t)a[1];
	CHECK(m->namelen == 7 && m->flags == 0x40);
	sbx_checked_free(&c);
}

static void value_results_are_bounced(void)
{
	const struct sc_desc *gsn = sbx_syscall(SYS_getsockname), *gso = sbx_syscall(SYS_getsockopt);
	struct sbx_checked c;
	uint64_t a[6];
	uint32_t *len;

	setup();
	good_args(gsn, a);
	len = (uint32_t *)(uintptr_t)a[2];
	*len = 16;
	CHECK(sbx_check(gsn, a, &U, &c) == 0);
	CHECK(c.a[2] != a[2]);				/* the kernel reads the monitor's copy */
	*len = 100000;					/* a second thread enlarging it now changes nothing */
	CHECK(*(uint32_t *)(uintptr_t)c.a[2] == 16);
	*(uint32_t *)(uintptr_t)c.a[2] = 12;		/* what the kernel answers is copied back */
	CHECK(sbx_check_after(gsn, &c, &U, 0) == 0 && *len == 12);
	sbx_checked_free(&c);
	/* the buffer a length describes must hold that length */
	good_args(gsn, a);
	a[1] = hi - 8;
	*(uint32_t *)(uintptr_t)a[2] = 16;
	CHECK(sbx_check(gsn, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	good_args(gso, a);
	a[3] = hi - 4;
	*(uint32_t *)(uintptr_t)a[4] = 64;
	CHECK(sbx_check(gso, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
}

static void buffers_are_clamped_to_the_arena(void)
{
	const struct sc_desc *rd = sbx_syscall(SYS_read);
	struct sbx_checked c;
	uint64_t a[6] = { 3, 0, 1ULL << 40, 0, 0, 0 };

	setup();
	a[1] = hi - 100;
	CHECK(sbx_check(rd, a, &U, &c) == 0 && c.a[2] == 100);
	sbx_checked_free(&c);
	a[1] = hi;	/* nothing left at all */
	CHECK(sbx_check(rd, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	a[1] = mon_lo - 64;	/* up to the monitor's window, not into it */
	a[2] = 1ULL << 40;
	CHECK(sbx_check(rd, a, &U, &c) == 0 && c.a[2] == 64);
	sbx_checked_free(&c);
	a[1] = mon_lo + 64;
	CHECK(sbx_check(rd, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	a[1] = 0;	/* NULL goes to the kernel, which says EFAULT itself */
	CHECK(sbx_check(rd, a, &U, &c) == 0 && c.a[1] == 0);
	sbx_checked_free(&c);
}

static void strings_are_copied(void)
{
	const struct sc_desc *un = sbx_syscall(SYS_unlinkat);
	struct sbx_checked c;
	uint64_t a[6];
	char *s;

	setup();
	good_args(un, a);
	CHECK(sbx_check(un, a, &U, &c) == 0);
	CHECK(c.str[1] && !strcmp(c.str[1], "/tmp/x") && c.a[1] == (uintptr_t)c.str[1]);
	sbx_checked_free(&c);
	/* a path running into an unmapped page */
	s = (char *)(gap_lo - 3);
	memcpy(s, "abc", 3);
	a[1] = (uintptr_t)s;
	CHECK(sbx_check(un, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	/* a path running off the end of the arena */
	s = (char *)(hi - 5);
	memcpy(s, "abcde", 5);
	a[1] = (uintptr_t)s;
	CHECK(sbx_check(un, a, &U, &c) == -EFAULT);
	sbx_checked_free(&c);
	/* too long */
	s = (char *)(lo + 0x90000);
	memset(s, 'a', 5000);
	s[5000] = 0;
	a[1] = (uintptr_t)s;
	CHECK(sbx_check(un, a, &U, &c) == -ENAMETOOLONG);
	sbx_checked_free(&c);
	CHECK(outside_reads == 0);
}

TESTS(check_tests) = {
	T(table_matches_kernel_headers),
	T(signatures_are_consistent),
	T(good_arguments_pass),
	T(bad_pointers_are_refused),
	T(straddling_structs_are_refused),
	T(monitor_fds_are_refused),
	T(nested_pointers_are_checked),
	T(value_results_are_bounced),
	T(buffers_are_clamped_to_the_arena),
	T(strings_are_copied),
	{ NULL, NULL },
};
