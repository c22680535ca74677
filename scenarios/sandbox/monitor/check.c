/*
 * check.c - argument checking by signature (see check.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"

#define MAX_CONTROL	(64 * 1024)	/* ancillary data we copy (the kernel's optmem_max is ~20 KiB) */
#define MAX_NAME	128		/* sizeof(struct sockaddr_storage) */

/* x86-64 kernel ABI of the socket message structures */
struct k_iovec {
	uint64_t base, len;
};

struct k_msghdr {
	uint64_t name;
	uint32_t namelen, pad0;
	uint64_t iov, iovlen;
	uint64_t control, controllen;
	int32_t flags, pad1;
};
_Static_assert(sizeof(struct k_msghdr) == 56, "struct msghdr is 56 bytes on x86-64");

struct k_mmsghdr {
	struct k_msghdr hdr;
	uint32_t len, pad;
};
_Static_assert(sizeof(struct k_mmsghdr) == 64, "struct mmsghdr is 64 bytes on x86-64");

void *sbx_scratch(struct sbx_checked *c, size_t len)
{
	struct sbx_copy *b = malloc(sizeof(*b) + (len ? len : 1));

	if (!b)
		return NULL;
	b->next = c->copies;
	c->copies = b;
	return b->data;
}

void sbx_checked_free(struct sbx_checked *c)
{
	struct sbx_copy *b = c->copies, *n;
	int i;

	for (; b; b = n) {
		n = b->next;
		free(b);
	}
	c->copies = NULL;
	for (i = 0; i < 6; i++) {
		free(c->str[i]);
		c->str[i] = NULL;
	}
}

char *sbx_copy_string(const struct sbx_uaccess *u, uint64_t p, size_t max, int *err)
{
	size_t n = 0, cap = 256;
	char *s, *t;

	if (!p || !sbx_range_ok(u, p, 1)) {
		*err = -EFAULT;
		return NULL;
	}
	s = malloc(cap);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	/* chunk by chunk up to page boundaries: a string may end just before unmapped memory */
	while (n < max) {
		size_t chunk = 4096 - ((p + n) & 4095);
		char *nul;

		if (chunk > max - n)
			chunk = max - n;
		if (chunk > 256)
			chunk = 256;
		if (n + chunk > cap) {
			cap = cap * 2 < max ? cap * 2 : max;
			t = realloc(s, cap);
			if (!t) {
				free(s);
				*err = -ENOMEM;
				return NULL;
			}
			s = t;
		}
		if (!sbx_range_ok(u, p + n, chunk) || u->copy_in(s + n, p + n, chunk, u->ctx)) {
			free(s);
			*err = -EFAULT;
			return NULL;
		}
		nul = memchr(s + n, '\0', chunk);
		if (nul) {
			t = realloc(s, (size_t)(nul - s) + 1);
			return t ? t : s;
		}
		n += chunk;
	}
	free(s);
	*err = -ENAMETOOLONG;
	return NULL;
}

static int check_fd(const struct sbx_uaccess *u, uint64_t v, bool dirfd)
{
	int fd = (int)(uint32_t)v;	/* the kernel takes the low 32 bits */

	if (dirfd && fd == -100 /* AT_FDCWD */)
		return 0;
	if (fd >= 0 && u->monitor_fd(fd, u->ctx))
		return -EBADF;
	return 0;
}

/* Copy and check an iovec array; returns the monitor's copy in *copy. */
static int check_iov(const struct sbx_uaccess *u, struct sbx_checked *c, uint64_t p, uint64_t cnt,
		     struct k_iovec **copy)
{
	struct k_iovec *v;
	uint64_t i;

	*copy = NULL;
	if (cnt > SBX_IOV_MAX)
		return -EINVAL;
	if (!cnt)
		return 0;
	if (!p || !sbx_range_ok(u, p, cnt * sizeof(*v)))
		return -EFAULT;
	v = sbx_scratch(c, cnt * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (u->copy_in(v, p, cnt * sizeof(*v), u->ctx))
		return -EFAULT;
	for (i = 0; i < cnt; i++) {
		if (!v[i].len)
			continue;
		if ((int64_t)v[i].len < 0)
			return -EINVAL;
		if (!sbx_range_ok(u, v[i].base, v[i].len))
			return -EFAULT;
	}
	*copy = v;
	return 0;
}

/* SCM_RIGHTS in ancillary data being sent must not name a monitor fd. */
static int check_control(const struct sbx_uaccess *u, const unsigned char *buf, size_t len)
{
	size_t off = 0;

	while (off + sizeof(struct cmsghdr) <= len) {
		struct cmsghdr h;
		size_t clen;

		memcpy(&h, buf + off, sizeof(h));
		clen = h.cmsg_len;
		if (clen < sizeof(h) || clen > len - off)
			return 0;	/* the kernel rejects it (EINVAL) */
		if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
			size_t i, n = (clen - sizeof(h)) / sizeof(int);

			for (i = 0; i < n; i++) {
				int fd;

				memcpy(&fd, buf + off + sizeof(h) + i * sizeof(int), sizeof(fd));
				if (fd >= 0 && u->monitor_fd(fd, u->ctx))
					return -EBADF;
			}
		}
		off += (clen + sizeof(long) - 1) & ~(sizeof(long) - 1);
	}
	return 0;
}

/* Check one msghdr (already copied to *m); substitute checked copies into *m. */
static int check_msghdr_fields(const struct sbx_uaccess *u, struct sbx_checked *c, struct k_msghdr *m, bool recv)
{
	struct k_iovec *iov;
	int r;

	if (m->name && m->namelen) {
		if (!recv && m->namelen > MAX_NAME)
			return -EINVAL;
		if (!sbx_range_ok(u, m->name, m->namelen))
			return -EFAULT;
	}
	if (m->iovlen > SBX_IOV_MAX)
		return -EMSGSIZE;
	r = check_iov(u, c, m->iov, m->iovlen, &iov);
	if (r)
		return r;
	if (iov)
		m->iov = (uintptr_t)iov;
	if (m->control && m->controllen) {
		if (!sbx_range_ok(u, m->control, m->controllen))
			return -EFAULT;
		if (!recv) {
			unsigned char *ctl;

			if (m->controllen > MAX_CONTROL)
				return -ENOBUFS;
			ctl = sbx_scratch(c, m->controllen);
			if (!ctl)
				return -ENOMEM;
			if (u->copy_in(ctl, m->control, m->controllen, u->ctx))
				return -EFAULT;
			r = check_control(u, ctl, m->controllen);
			if (r)
				return r;
			m->control = (uintptr_t)ctl;
		}
	}
	return 0;
}

static int check_msghdr(const struct sbx_uaccess *u, struct sbx_checked *c, int i, uint64_t p, bool recv)
{
	struct k_msghdr *m;
	int r;

	if (!p || !sbx_range_ok(u, p, sizeof(*m)))
		return -EFAULT;
	m = sbx_scratch(c, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (u->copy_in(m, p, sizeof(*m), u->ctx))
		return -EFAULT;
	r = check_msghdr_fields(u, c, m, recv);
	if (r)
		return r;
	c->a[i] = (uintptr_t)m;
	if (recv) {
		c->back[c->nback].user = p;
		c->back[c->nback].mon = m;
		c->back[c->nback].len = sizeof(*m);
		c->back[c->nback].kind = 1;
		c->nback++;
	}
	return 0;
}

static int check_mmsg(const struct sbx_uaccess *u, struct sbx_checked *c, int i, uint64_t p, uint64_t cnt, bool recv)
{
	struct k_mmsghdr *v;
	uint64_t k;
	int r;

	cnt = (uint32_t)cnt;
	if (cnt > SBX_IOV_MAX)
		cnt = SBX_IOV_MAX;	/* the kernel caps vlen the same way */
	if (!cnt)
		return 0;
	if (!p || !sbx_range_ok(u, p, cnt * sizeof(*v)))
		return -EFAULT;
	v = sbx_scratch(c, cnt * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (u->copy_in(v, p, cnt * sizeof(*v), u->ctx))
		return -EFAULT;
	for (k = 0; k < cnt; k++) {
		r = check_msghdr_fields(u, c, &v[k].hdr, recv);
		if (r)
			return r;
	}
	c->a[i] = (uintptr_t)v;
	c->back[c->nback].user = p;
	c->back[c->nback].mon = v;
	c->back[c->nback].len = cnt;
	c->back[c->nback].kind = recv ? 3 : 2;
	c->nback++;
	return 0;
}

/* A value-result the kernel reads and writes (socklen_t *): copied in, copied back after. */
static int bounce(const struct sbx_uaccess *u, struct sbx_checked *c, int i, uint64_t p, size_t len, void **mon)
{
	void *m;

	*mon = NULL;
	if (!p)
		return 0;
	if (!sbx_range_ok(u, p, len))
		return -EFAULT;
	m = sbx_scratch(c, len);
	if (!m)
		return -ENOMEM;
	if (u->copy_in(m, p, len, u->ctx))
		return -EFAULT;
	c->a[i] = (uintptr_t)m;
	c->back[c->nback].user = p;
	c->back[c->nback].mon = m;
	c->back[c->nback].len = len;
	c->back[c->nback].kind = 0;
	c->nback++;
	*mon = m;
	return 0;
}

/* A buffer whose length is register argument l: must start in the arena; clamped to its end. */
static int check_buf(const struct sbx_uaccess *u, struct sbx_checked *c, uint64_t p, int l)
{
	uint64_t len = c->a[l];

	uint64_t room;

	if (!p || !len)
		return 0;
	room = sbx_room(u, p);
	if (!room)
		return -EFAULT;
	if (len > room)
		c->a[l] = room;
	return 0;
}

static int check_one(const struct sc_desc *d, int i, const struct sbx_uaccess *u, struct sbx_checked *c)
{
	const struct sc_arg *a = &d->args[i];
	uint64_t p = c->a[i], n, sz;
	int r = 0;

	switch (a->kind) {
	case A_NONE:
	case A_INT:
	case A_PTR:
		return 0;
	case A_FD:
		return check_fd(u, p, false);
	case A_FD_W:
		r = check_fd(u, p, false);
		if (!r && (int)(uint32_t)p >= 0 && !u->fd_writable((int)(uint32_t)p, u->ctx))
			r = -EPERM;
		return r;
	case A_DIRFD:
		return check_fd(u, p, true);
	case A_NEWFD:
		return check_fd(u, p, false);
	case A_PATH:
	case A_STR:
		if (!p)
			return -EFAULT;
		c->str[i] = sbx_copy_string(u, p, SBX_PATH_MAX, &r);
		if (!c->str[i])
			return r;
		c->a[i] = (uintptr_t)c->str[i];
		return 0;
	case A_IN:
	case A_OUT:
	case A_INOUT:
		return check_buf(u, c, p, a->param);
	case A_IN_SZ:
	case A_OUT_SZ:
	case A_INOUT_SZ:
		return !p || sbx_range_ok(u, p, a->size) ? 0 : -EFAULT;
	case A_IN_N:
	case A_OUT_N:
	case A_INOUT_N:
		n = (uint32_t)c->a[a->param];
		if (!p || !n)
			return 0;
		sz = n * a->size;
		return sbx_range_ok(u, p, sz) ? 0 : -EFAULT;
	case A_IOV_IN:
	case A_IOV_OUT: {
		struct k_iovec *v;

		r = check_iov(u, c, p, (uint32_t)c->a[a->param], &v);
		if (!r && v)
			c->a[i] = (uintptr_t)v;
		return r;
	}
	case A_SOCKADDR_IN:
		n = (uint32_t)c->a[a->param];
		if (!p || !n)
			return 0;
		return sbx_range_ok(u, p, n) ? 0 : -EFAULT;
	case A_SOCKADDR_OUT:
		/* its length is the value-result in arg param (bounced there first) */
		return 0;
	case A_LENP:
	case A_OUT_LENP:
		return 0;	/* handled with their pairs below */
	case A_MSGHDR_IN:
	case A_MSGHDR_OUT:
		return check_msghdr(u, c, i, p, a->kind == A_MSGHDR_OUT);
	case A_MMSG_IN:
	case A_MMSG_OUT:
		return check_mmsg(u, c, i, p, c->a[a->param], a->kind == A_MMSG_OUT);
	case A_FDSET:
		n = c->a[a->param];
		if (!p || (int64_t)(int32_t)n <= 0)
			return 0;
		sz = (((uint64_t)(uint32_t)n + 63) / 64) * 8;
		return sbx_range_ok(u, p, sz) ? 0 : -EFAULT;
	case A_ADDR: {
		uint64_t start = p & ~4095ULL, len = c->a[a->param], end;

		if (len > u->hi || p + len < p)
			return -ENOMEM;
		end = (p + len + 4095) & ~4095ULL;
		return sbx_range_ok(u, start, end - start) ? 0 : -ENOMEM;
	}
	case A_SIGSET:
		if (!p || c->a[a->param] != 8)
			return 0;	/* a wrong size: the kernel says EINVAL without reading */
		return sbx_range_ok(u, p, 8) ? 0 : -EFAULT;
	default:
		return -EINVAL;
	}
}

/* The value-result socklen_t * pairs: bounce the length, then check the buffer it sizes. */
static int check_lenp_pairs(const struct sc_desc *d, const struct sbx_uaccess *u, struct sbx_checked *c)
{
	int i, r;

	for (i = 0; i < d->nargs; i++) {
		const struct sc_arg *a = &d->args[i];
		uint64_t p = c->a[i];
		uint32_t len;
		void *m;

		if (a->kind != A_SOCKADDR_OUT && a->kind != A_OUT_LENP)
			continue;
		/* the length pointer is arg a->param, of kind A_LENP */
		r = bounce(u, c, a->param, c->a[a->param], sizeof(uint32_t), &m);
		if (r) {
			c->bad_arg = a->param;
			return r;
		}
		if (!p)
			continue;
		if (!m) {
			if (a->kind == A_OUT_LENP)
				continue;	/* the kernel answers EFAULT for a NULL optlen */
			continue;	/* NULL addrlen with an address: the kernel ignores the address */
		}
		memcpy(&len, m, sizeof(len));
		if ((int32_t)len < 0)
			continue;	/* EINVAL from the kernel, nothing written */
		if (len && !sbx_range_ok(u, p, len)) {
			c->bad_arg = i;
			return -EFAULT;
		}
	}
	/* a lone A_LENP (no pair) is bounced too */
	for (i = 0; i < d->nargs; i++) {
		bool paired = false;
		int j;
		void *m;

		if (d->args[i].kind != A_LENP)
			continue;
		for (j = 0; j < d->nargs; j++)
			if ((d->args[j].kind == A_SOCKADDR_OUT || d->args[j].kind == A_OUT_LENP) && d->args[j].param == i)
				paired = true;
		if (paired)
			continue;
		r = bounce(u, c, i, c->a[i], sizeof(uint32_t), &m);
		if (r) {
			c->bad_arg = i;
			return r;
		}
	}
	return 0;
}

int sbx_check(const struct sc_desc *d, const uint64_t args[6], const struct sbx_uaccess *u, struct sbx_checked *c)
{
	int i, r;

	memset(c, 0, sizeof(*c));
	memcpy(c->a, args, sizeof(c->a));
	c->bad_arg = -1;
	for (i = 0; i < d->nargs; i++) {
		r = check_one(d, i, u, c);
		if (r) {
			c->bad_arg = i;
			return r;
		}
	}
	return check_lenp_pairs(d, u, c);
}

int sbx_check_after(const struct sc_desc *d, struct sbx_checked *c, const struct sbx_uaccess *u, long ret)
{
	int i, r = 0;

	(void)d;
	if (ret < 0)
		return 0;
	for (i = 0; i < c->nback; i++) {
		uintptr_t user = c->back[i].user;

		switch (c->back[i].kind) {
		case 0:
			if (u->copy_out(user, c->back[i].mon, c->back[i].len, u->ctx))
				r = -EFAULT;
			break;
		case 1: {
			/* recvmsg: the kernel updated namelen, controllen and flags in our copy */
			const struct k_msghdr *m = c->back[i].mon;

			if (u->copy_out(user + offsetof(struct k_msghdr, namelen), &m->namelen, sizeof(m->namelen), u->ctx) ||
			    u->copy_out(user + offsetof(struct k_msghdr, controllen), &m->controllen,
					sizeof(m->controllen), u->ctx) ||
			    u->copy_out(user + offsetof(struct k_msghdr, flags), &m->flags, sizeof(m->flags), u->ctx))
				r = -EFAULT;
			break;
		}
		case 2:
		case 3: {
			const struct k_mmsghdr *v = c->back[i].mon;
			size_t k, n = (size_t)ret < c->back[i].len ? (size_t)ret : c->back[i].len;

			for (k = 0; k < n; k++) {
				uintptr_t e = user + k * sizeof(*v);

				if (u->copy_out(e + offsetof(struct k_mmsghdr, len), &v[k].len, sizeof(v[k].len), u->ctx))
					r = -EFAULT;
				if (c->back[i].kind == 3 &&
				    (u->copy_out(e + offsetof(struct k_msghdr, namelen), &v[k].hdr.namelen,
						 sizeof(v[k].hdr.namelen), u->ctx) ||
				     u->copy_out(e + offsetof(struct k_msghdr, controllen), &v[k].hdr.controllen,
						 sizeof(v[k].hdr.controllen), u->ctx) ||
				     u->copy_out(e + offsetof(struct k_msghdr, flags), &v[k].hdr.flags,
						 sizeof(v[k].hdr.flags), u->ctx)))
					r = -EFAULT;
			}
			break;
		}
		}
	}
	return r;
}
