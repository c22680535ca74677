/*
 * net.c - sockets under the policy's network field.
 *   none     AF_UNIX socketpairs and AF_UNIX sockets on paths the files
 *            policy lets the program write (connect and bind go through an
 *            fd of the checked object, /proc/self/fd/N)
 *   connect  + TCP/UDP over IPv4/IPv6 outwards, abstract AF_UNIX names
 *   listen   + bind and listen on the listed ports
 * Raw, packet, netlink and other families are never offered (EAFNOSUPPORT,
 * so programs fall back).  Socket options that carry pointers the kernel
 * follows (BPF filters) are refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sbx.h"

#define MAX_ADDR	128

static void deny(struct dune_tf *tf, const struct sc_desc *d, long err, const char *why)
{
	S.ndenied++;
	sbx_log_syscall(tf, d, "deny", err, why);
	SET_RET(tf, err);
}

static bool port_listed(unsigned port)
{
	int i;

	for (i = 0; i < S.pol->nports; i++)
		if (S.pol->ports[i] == port)
			return true;
	return false;
}

/*
 * Check a socket address the program gave (copied into a) for connect/sendto
 * (bind == false) or bind.  AF_UNIX paths are rewritten to /proc/self/fd/N
 * of the checked object (*keep gets the fd to close afterwards).  0 or -errno
 * with *why set.
 */
static int check_addr(struct dune_tf *tf, const struct sc_desc *d, struct sockaddr_storage *a, socklen_t *len,
		      bool bind, int *keep, const char **why)
{
	*keep = -1;
	if (*len < sizeof(sa_family_t))
		return 0;	/* the kernel says EINVAL */
	switch (a->ss_family) {
	case AF_UNSPEC:
		return 0;
	case AF_INET:
	case AF_INET6: {
		unsigned port = a->ss_family == AF_INET ? ntohs(((struct sockaddr_in *)a)->sin_port)
							: ntohs(((struct sockaddr_in6 *)a)->sin6_port);

		if (S.pol->network == NET_NONE) {
			*why = "policy: network: none";
			return -EACCES;
		}
		if (bind && port && !(S.pol->network == NET_LISTEN && port_listed(port))) {
			*why = "policy: port not in network.listen";
			return -EACCES;
		}
		return 0;
	}
	case AF_UNIX: {
		struct sockaddr_un *u = (struct sockaddr_un *)a;
		size_t plen = *len - offsetof(struct sockaddr_un, sun_path);
		char path[sizeof(u->sun_path) + 1];
		struct sbx_resolved r;
		int fd, ret;

		if (!plen)
			return 0;	/* unnamed / autobind */
		if (u->sun_path[0] == '\0') {
			if (S.pol->network == NET_NONE) {
				*why = "policy: network: none (abstract AF_UNIX names reach other programs)";
				return -EACCES;
			}
			return 0;
		}
		memcpy(path, u->sun_path, plen < sizeof(u->sun_path) ? plen : sizeof(u->sun_path));
		path[plen < sizeof(u->sun_path) ? plen : sizeof(u->sun_path)] = '\0';
		ret = sbx_fs_resolve(&S.fs, AT_FDCWD, path, NEED_WRITE, &r);
		if (ret) {
			if (ret == -EACCES && r.why != WHY_NONE)
				*why = r.why == WHY_READONLY ? "AF_UNIX path is read-only in the policy"
							     : "AF_UNIX path outside the policy";
			sbx_fs_release(&S.fs, &r);
			return ret;
		}
		if (bind) {
			/* the socket file is created in the checked directory */
			int n = snprintf(u->sun_path, sizeof(u->sun_path), "/proc/self/fd/%d/%s", r.dirfd, r.name);

			if (!r.name[0] || n >= (int)sizeof(u->sun_path)) {
				sbx_fs_release(&S.fs, &r);
				return !r.name[0] ? -EADDRINUSE : -ENAMETOOLONG;
			}
			if (r.close_dirfd) {
				*keep = r.dirfd;	/* keep it open until bind is done */
				r.close_dirfd = false;
			}
		} else {
			fd = sbx_fs_open_final(&S.fs, &r, O_PATH | O_CLOEXEC, 0, true, NEED_WRITE);
			sbx_fs_release(&S.fs, &r);
			if (fd < 0)
				return fd;
			snprintf(u->sun_path, sizeof(u->sun_path), "/proc/self/fd/%d", fd);
			*keep = fd;
		}
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(u->sun_path) + 1);
		sbx_fs_release(&S.fs, &r);
		return 0;
	}
	default:
		*why = "address family not offered";
		return -EAFNOSUPPORT;
	}
	(void)tf;
	(void)d;
}

/* connect, bind, sendto with an address: the kernel gets the monitor's checked copy */
static void with_addr(struct dune_tf *tf, const struct sc_desc *d, int addr_arg, int len_arg, bool bind)
{
	struct sockaddr_storage a;
	socklen_t len = (socklen_t)arg(tf, len_arg);
	uint64_t p = arg(tf, addr_arg);
	struct sbx_checked c;
	uint64_t args[6];
	const char *why = NULL;
	int keep = -1;
	long r;

	args_of(tf, args);
	r = sbx_check(d, args, &S.ua, &c);
	if (r) {
		sbx_checked_free(&c);
		SET_RET(tf, r);
		return;
	}
	if (p) {
		if (len > sizeof(a)) {
			sbx_checked_free(&c);
			SET_RET(tf, -EINVAL);
			return;
		}
		memset(&a, 0, sizeof(a));
		if (sbx_copy_in(&a, p, len)) {
			sbx_checked_free(&c);
			SET_RET(tf, -EFAULT);
			return;
		}
		r = check_addr(tf, d, &a, &len, bind, &keep, &why);
		if (r) {
			sbx_checked_free(&c);
			if (why)
				deny(tf, d, r, why);
			else
				SET_RET(tf, r);
			return;
		}
		c.a[addr_arg] = (uintptr_t)&a;
		c.a[len_arg] = len;
	}
	r = sbx_host(tf, &c);
	if (keep >= 0)
		close(keep);
	sbx_checked_free(&c);
	SET_RET(tf, r);
}

static void sendmsg_like(struct dune_tf *tf, const struct sc_desc *d)
{
	struct sbx_checked c;
	uint64_t args[6];
	long r;
	size_t k, n = 1;
	uint64_t *names = NULL;

	args_of(tf, args);
	r = sbx_check(d, args, &S.ua, &c);
	if (r) {
		if (r == -EBADF)
			deny(tf, d, r, "SCM_RIGHTS with a descriptor of the monitor");
		else
			SET_RET(tf, r);
		sbx_checked_free(&c);
		return;
	}
	if (tf->rax == SYS_sendmmsg)
		n = c.a[1] ? (uint32_t)tf->rdx > SBX_IOV_MAX ? SBX_IOV_MAX : (uint32_t)tf->rdx : 0;
	/* every destination address is checked like connect's, on a copy */
	for (k = 0; k < n; k++) {
		struct { uint64_t name; uint32_t namelen, pad; } *m =
			(void *)((char *)(uintptr_t)c.a[1] + k * (tf->rax == SYS_sendmmsg ? 64 : 56));
		struct sockaddr_storage *a;
		socklen_t len = m->namelen;
		const char *why = NULL;
		int keep = -1;

		if (!m->name || !len)
			continue;
		if (len > sizeof(*a)) {
			r = -EINVAL;
			break;
		}
		a = sbx_scratch(&c, sizeof(*a));
		if (!a) {
			r = -ENOMEM;
			break;
		}
		memset(a, 0, sizeof(*a));
		if (sbx_copy_in(a, m->name, len)) {
			r = -EFAULT;
			break;
		}
		r = check_addr(tf, d, a, &len, false, &keep, &why);
		if (keep >= 0)
			close(keep);	/* AF_UNIX datagrams to paths: refuse rather than race */
		if (!r && keep >= 0)
			r = -EACCES, why = "AF_UNIX datagrams to paths are not offered";
		if (r) {
			if (why)
				deny(tf, d, r, why);
			else
				SET_RET(tf, r);
			sbx_checked_free(&c);
			return;
		}
		m->name = (uintptr_t)a;
		m->namelen = len;
	}
	(void)names;
	if (r) {
		sbx_checked_free(&c);
		SET_RET(tf, r);
		return;
	}
	r = sbx_host(tf, &c);
	if (r >= 0 && sbx_check_after(d, &c, &S.ua, r))
		r = -EFAULT;
	sbx_checked_free(&c);
	SET_RET(tf, r);
}

void sbx_net_syscall(struct dune_tf *tf, const struct sc_desc *d)
{
	long nr = (long)tf->rax, r;

	switch (nr) {
	case SYS_socket: {
		int dom = (int)tf->rdi, type = (int)tf->rsi & 0xf;

		if (dom == AF_UNIX) {
			sbx_generic(tf, d);
			return;
		}
		if (dom != AF_INET && dom != AF_INET6) {
			deny(tf, d, -EAFNOSUPPORT, "address family not offered");
			return;
		}
		if (S.pol->network == NET_NONE) {
			deny(tf, d, -EACCES, "policy: network: none");
			return;
		}
		if (type != SOCK_STREAM && type != SOCK_DGRAM) {
			deny(tf, d, -EPERM, "raw sockets are not offered");
			return;
		}
		sbx_generic(tf, d);
		return;
	}
	case SYS_socketpair: {
		int sv[2];

		if ((int)tf->rdi != AF_UNIX) {
			deny(tf, d, -EAFNOSUPPORT, "address family not offered");
			return;
		}
		if (!sbx_range_ok(&S.ua, tf->r10, sizeof(sv)) || !tf->r10) {
			SET_RET(tf, -EFAULT);
			return;
		}
		r = syscall(SYS_socketpair, (int)tf->rdi, (int)tf->rsi, (int)tf->rdx, sv) ? -errno : 0;
		if (!r) {
			if (sbx_copy_out(tf->r10, sv, sizeof(sv))) {
				close(sv[0]);
				close(sv[1]);
				r = -EFAULT;
			} else {
				sbx_set_wfd(sv[0], true);
				sbx_set_wfd(sv[1], true);
			}
		}
		SET_RET(tf, r);
		return;
	}
	case SYS_connect:
		with_addr(tf, d, 1, 2, false);
		return;
	case SYS_bind:
		with_addr(tf, d, 1, 2, true);
		return;
	case SYS_sendto:
		if (tf->r8) {
			with_addr(tf, d, 4, 5, false);
			return;
		}
		sbx_generic(tf, d);
		return;
	case SYS_sendmsg:
	case SYS_sendmmsg:
		sendmsg_like(tf, d);
		return;
	case SYS_listen: {
		struct sockaddr_storage a;
		socklen_t len = sizeof(a);
		unsigned port = 0;

		if (sbx_is_monitor_fd((int)tf->rdi)) {
			SET_RET(tf, -EBADF);
			return;
		}
		if (!syscall(SYS_getsockname, (int)tf->rdi, &a, &len)) {
			if (a.ss_family == AF_INET)
				port = ntohs(((struct sockaddr_in *)&a)->sin_port);
			else if (a.ss_family == AF_INET6)
				port = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
			if ((a.ss_family == AF_INET || a.ss_family == AF_INET6) &&
			    !(S.pol->network == NET_LISTEN && port_listed(port))) {
				deny(tf, d, -EACCES, "policy: listening on a port not in network.listen");
				return;
			}
		}
		sbx_generic(tf, d);
		return;
	}
	case SYS_setsockopt:
		if ((int)tf->rsi == SOL_SOCKET && ((int)tf->rdx == SO_ATTACH_FILTER || (int)tf->rdx == SO_ATTACH_BPF ||
						    (int)tf->rdx == SO_ATTACH_REUSEPORT_CBPF ||
						    (int)tf->rdx == SO_ATTACH_REUSEPORT_EBPF)) {
			deny(tf, d, -EPERM, "socket filters are not offered");
			return;
		}
		sbx_generic(tf, d);
		return;
	case SYS_getsockopt:
		if ((int)tf->rsi == IPPROTO_TCP && (int)tf->rdx == 35 /* TCP_ZEROCOPY_RECEIVE */) {
			deny(tf, d, -EPERM, "zero-copy receive maps pages at an address of the program's choice");
			return;
		}
		sbx_generic(tf, d);
		return;
	default:
		sbx_generic(tf, d);
		return;
	}
}
