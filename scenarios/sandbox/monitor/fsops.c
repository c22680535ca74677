/*
 * fsops.c - system calls that take paths.  Each path is copied, resolved
 * beneath the policy's directories (paths.c) and the call is made on the
 * resolved (directory fd, name) with "don't follow" semantics, or on an
 * O_PATH fd of the object itself (through /proc/self/fd/N or AT_EMPTY_PATH,
 * for calls that have no *at form with a no-follow flag).  So what is
 * checked is exactly what is used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "sbx.h"

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static long sys(long nr, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(nr, a, b, c, d, e, f);

	return r < 0 ? -errno : r;
}

static const char *why_text(enum sbx_why w)
{
	switch (w) {
	case WHY_OUTSIDE: return "path outside the policy";
	case WHY_READONLY: return "path is read-only in the policy";
	case WHY_FORBIDDEN: return "path is never allowed";
	default: return "denied";
	}
}

#define ANCESTOR	1	/* ancestor_or_resolve(): the path is a directory above a prefix */

static int resolve(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, enum sbx_need need,
		   struct sbx_resolved *r);

/*
 * For calls that only look (stat, access, readlink): the directories above
 * the policy's prefixes ("/", "/tmp" for /tmp/box) exist and may be looked
 * at, as realpath() and mkdir -p do; nothing else about them is offered
 * (no listing, no opening).  ANCESTOR (r->path set), or resolve()'s answer.
 */
static int ancestor_or_resolve(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path,
			       enum sbx_need need, struct sbx_resolved *r)
{
	int ret;

	if (dirfd != AT_FDCWD && sbx_is_monitor_fd(dirfd)) {
		memset(r, 0, sizeof(*r));
		r->dirfd = -1;
		return -EBADF;
	}
	ret = sbx_fs_resolve(&S.fs, dirfd, path, need, r);
	if (ret == -EACCES && r->why == WHY_OUTSIDE && sbx_fs_is_ancestor(&S.fs, r->path)) {
		sbx_fs_release(&S.fs, r);
		return ANCESTOR;
	}
	if (ret == -EACCES && r->why != WHY_NONE) {
		char why[4200];

		S.ndenied++;
		snprintf(why, sizeof(why), "%s: %s", why_text(r->why), r->path);
		sbx_log_syscall(tf, d, "deny", ret, why);
	}
	return ret;
}

static int resolve(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, enum sbx_need need,
		   struct sbx_resolved *r)
{
	int ret;

	if (dirfd != AT_FDCWD && sbx_is_monitor_fd(dirfd)) {
		memset(r, 0, sizeof(*r));
		r->dirfd = -1;
		return -EBADF;
	}
	ret = sbx_fs_resolve(&S.fs, dirfd, path, need, r);
	if (ret == -EACCES && r->why != WHY_NONE) {
		char why[4200];

		S.ndenied++;
		snprintf(why, sizeof(why), "%s: %s", why_text(r->why), r->path);
		sbx_log_syscall(tf, d, "deny", ret, why);
	}
	return ret;
}

/* An fd for the object r names (O_PATH unless flags say otherwise), following a final symlink if follow. */
static int object_fd(struct dune_tf *tf, const struct sc_desc *d, struct sbx_resolved *r, int flags, bool follow,
		     enum sbx_need need)
{
	int fd = sbx_fs_open_final(&S.fs, r, flags | O_CLOEXEC, 0, follow, need);

	if (fd == -EACCES && r->why != WHY_NONE) {
		char why[4200];

		S.ndenied++;
		snprintf(why, sizeof(why), "%s (through a symlink): %s", why_text(r->why), r->path);
		sbx_log_syscall(tf, d, "deny", fd, why);
	}
	return fd;
}

/* Follow r's final symlink if it is one (for calls done on (dirfd, name)). 0, 1 (followed: retry), -errno. */
static int maybe_follow(struct dune_tf *tf, const struct sc_desc *d, struct sbx_resolved *r, enum sbx_need need,
			int *hops)
{
	struct stat st;
	int ret;

	if (!r->name[0] || fstatat(r->dirfd, r->name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISLNK(st.st_mode))
		return 0;
	ret = sbx_fs_follow(&S.fs, r, need, hops);
	if (ret == -EACCES && r->why != WHY_NONE) {
		char why[4200];

		S.ndenied++;
		snprintf(why, sizeof(why), "%s (through a symlink): %s", why_text(r->why), r->path);
		sbx_log_syscall(tf, d, "deny", ret, why);
	}
	return ret ? ret : 1;
}

static char *copy_path(struct dune_tf *tf, int i, long *err)
{
	int e = 0;
	char *s = sbx_copy_string(&S.ua, arg(tf, i), SBX_PATH_MAX, &e);

	*err = e;
	return s;
}

/* /proc/self/exe and /proc/<pid>/exe name the program, not the monitor */
static bool is_self_exe(const char *p)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "/proc/%d/exe", (int)S.pid);
	return !strcmp(p, "/proc/self/exe") || !strcmp(p, buf) || !strcmp(p, "/proc/thread-self/exe");
}

/* ----------------------------------------------------------------- open */

static long do_open(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, int flags, mode_t mode)
{
	struct sbx_resolved r;
	enum sbx_need need = sbx_open_need(flags);
	int fd, ret;

	ret = resolve(tf, d, dirfd, path, need, &r);
	if (ret)
		return ret;
	fd = sbx_fs_open_final(&S.fs, &r, flags, mode, !(flags & O_NOFOLLOW), need);
	if (fd == -EACCES && r.why != WHY_NONE) {
		char why[4200];

		S.ndenied++;
		snprintf(why, sizeof(why), "%s (through a symlink): %s", why_text(r.why), r.path);
		sbx_log_syscall(tf, d, "deny", fd, why);
	}
	if (fd >= 0) {
		if (sbx_is_monitor_fd(fd)) {	/* cannot happen: the monitor's fds are taken */
			close(fd);
			fd = -EMFILE;
		} else {
			sbx_set_wfd(fd, r.writable);
		}
	}
	sbx_fs_release(&S.fs, &r);
	return fd;
}

/* ----------------------------------------------------------------- stat */

static long do_stat(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, uint64_t ubuf,
		    int flags, bool is_statx, unsigned mask)
{
	struct sbx_resolved r;
	char buf[256];
	size_t len = is_statx ? 256 : sizeof(struct stat);
	bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
	int hops = 0, ret;
	long res;

	if (!sbx_range_ok(&S.ua, ubuf, len) || !ubuf)
		return -EFAULT;
	if (!*path && (flags & AT_EMPTY_PATH)) {
		if (dirfd != AT_FDCWD && sbx_is_monitor_fd(dirfd))
			return -EBADF;
		res = is_statx ? sys(SYS_statx, dirfd, (long)"", flags, mask, (long)buf, 0)
			       : sys(SYS_newfstatat, dirfd, (long)"", (long)buf, flags, 0, 0);
		goto out;
	}
	ret = ancestor_or_resolve(tf, d, dirfd, path, NEED_READ, &r);
	if (ret == ANCESTOR) {
		/* a directory above the policy's prefixes: its metadata is no secret (realpath, mkdir -p) */
		res = is_statx ? sys(SYS_statx, AT_FDCWD, (long)r.path, (flags & ~AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW,
				     mask, (long)buf, 0)
			       : sys(SYS_newfstatat, AT_FDCWD, (long)r.path, (long)buf, AT_SYMLINK_NOFOLLOW, 0, 0);
		goto out;
	}
	if (ret)
		return ret;
	for (;;) {
		int nf = (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) | AT_SYMLINK_NOFOLLOW;
		mode_t m;

		if (!r.name[0])
			res = is_statx ? sys(SYS_statx, r.dirfd, (long)"", nf | AT_EMPTY_PATH, mask, (long)buf, 0)
				       : sys(SYS_newfstatat, r.dirfd, (long)"", (long)buf, nf | AT_EMPTY_PATH, 0, 0);
		else
			res = is_statx ? sys(SYS_statx, r.dirfd, (long)r.name, nf, mask, (long)buf, 0)
				       : sys(SYS_newfstatat, r.dirfd, (long)r.name, (long)buf, nf, 0, 0);
		if (res)
			break;
		m = is_statx ? *(uint16_t *)(buf + 28) : ((struct stat *)buf)->st_mode;
		if (S_ISLNK(m) && (follow || r.slash)) {
			ret = sbx_fs_follow(&S.fs, &r, NEED_READ, &hops);
			if (ret) {
				if (ret == -EACCES && r.why != WHY_NONE) {
					char why[4200];

					S.ndenied++;
					snprintf(why, sizeof(why), "%s (through a symlink): %s", why_text(r.why), r.path);
					sbx_log_syscall(tf, d, "deny", ret, why);
				}
				return ret;
			}
			continue;
		}
		if (r.slash && !S_ISDIR(m))
			res = -ENOTDIR;
		break;
	}
	sbx_fs_release(&S.fs, &r);
out:
	if (res)
		return res;
	return sbx_copy_out(ubuf, buf, len) ? -EFAULT : 0;
}

/* --------------------------------------------------------------- access */

static long do_access(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, int mode, int flags)
{
	struct sbx_resolved r;
	int hops = 0, ret;
	long res;

	if (!*path && (flags & AT_EMPTY_PATH)) {
		if (dirfd != AT_FDCWD && sbx_is_monitor_fd(dirfd))
			return -EBADF;
		return sys(SYS_faccessat2, dirfd, (long)"", mode, flags, 0, 0);
	}
	ret = ancestor_or_resolve(tf, d, dirfd, path, NEED_READ, &r);
	if (ret == ANCESTOR)
		return (mode & W_OK) ? -EACCES : sys(SYS_faccessat2, AT_FDCWD, (long)r.path, mode & (R_OK | X_OK),
						      AT_SYMLINK_NOFOLLOW | (flags & AT_EACCESS), 0, 0);
	if (ret)
		return ret;
	while (!(flags & AT_SYMLINK_NOFOLLOW) && (ret = maybe_follow(tf, d, &r, NEED_READ, &hops)) == 1)
		;
	if (ret < 0)
		return ret;
	if (!r.name[0])
		res = sys(SYS_faccessat2, r.dirfd, (long)"", mode, (flags & AT_EACCESS) | AT_EMPTY_PATH, 0, 0);
	else
		res = sys(SYS_faccessat2, r.dirfd, (long)r.name, mode, (flags & AT_EACCESS) | AT_SYMLINK_NOFOLLOW, 0, 0);
	if (!res && (mode & W_OK) && !r.writable)
		res = -EACCES;	/* the policy makes it read-only */
	sbx_fs_release(&S.fs, &r);
	return res;
}

/* ------------------------------------------------------------- readlink */

static long do_readlink(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, uint64_t ubuf,
			long size)
{
	struct sbx_resolved r;
	int ret;
	long res;

	if (size <= 0)
		return -EINVAL;
	if (!sbx_range_ok(&S.ua, ubuf, 1) || ubuf == S.ua.hi)
		return -EFAULT;
	if ((uint64_t)size > S.ua.hi - ubuf)
		size = (long)(S.ua.hi - ubuf);
	if (is_self_exe(path)) {
		size_t n = strlen(S.prog_path);

		if (n > (size_t)size)
			n = (size_t)size;
		return sbx_copy_out(ubuf, S.prog_path, n) ? -EFAULT : (long)n;
	}
	ret = ancestor_or_resolve(tf, d, dirfd, path, NEED_READ, &r);
	if (ret == ANCESTOR)
		return sys(SYS_readlinkat, AT_FDCWD, (long)r.path, (long)ubuf, size, 0, 0);
	if (ret)
		return ret;
	res = r.name[0] ? sys(SYS_readlinkat, r.dirfd, (long)r.name, (long)ubuf, size, 0, 0)
			: sys(SYS_readlinkat, r.dirfd, (long)"", (long)ubuf, size, 0, 0);
	sbx_fs_release(&S.fs, &r);
	return res;
}

/* ------------------------------------------------------ directory entries */

static long entry_op(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, long nr, long a,
		     long b, const char *target)
{
	struct sbx_resolved r;
	int ret;
	long res;

	if ((nr == SYS_mkdirat || nr == SYS_mknodat || nr == SYS_symlinkat) && path[0] == '/' &&
	    sbx_fs_is_ancestor(&S.fs, path))
		return -EEXIST;	/* "mkdir -p /tmp/x" starts with mkdir("/"): it exists, as natively */
	ret = resolve(tf, d, dirfd, path, NEED_WRITE, &r);
	if (ret)
		return ret;
	if (!r.name[0]) {
		sbx_fs_release(&S.fs, &r);
		return nr == SYS_mkdirat || nr == SYS_mknodat || nr == SYS_symlinkat ? -EEXIST : -EBUSY;
	}
	switch (nr) {
	case SYS_mkdirat:
		res = sys(SYS_mkdirat, r.dirfd, (long)r.name, a, 0, 0, 0);
		break;
	case SYS_mknodat:
		res = sys(SYS_mknodat, r.dirfd, (long)r.name, a, b, 0, 0);
		break;
	case SYS_unlinkat:
		if (r.slash && !(a & AT_REMOVEDIR)) {
			struct stat st;

			if (!fstatat(r.dirfd, r.name, &st, AT_SYMLINK_NOFOLLOW) && !S_ISDIR(st.st_mode)) {
				res = -ENOTDIR;
				break;
			}
		}
		res = sys(SYS_unlinkat, r.dirfd, (long)r.name, a & AT_REMOVEDIR, 0, 0, 0);
		if (!res)
			sbx_fs_invalidate(&S.fs);
		break;
	case SYS_symlinkat:
		res = sys(SYS_symlinkat, (long)target, r.dirfd, (long)r.name, 0, 0, 0);
		break;
	default:
		res = -ENOSYS;
	}
	sbx_fs_release(&S.fs, &r);
	return res;
}

static long do_rename(struct dune_tf *tf, const struct sc_desc *d, int od, const char *op, int nd, const char *np,
		      unsigned flags)
{
	struct sbx_resolved a, b;
	int ret;
	long res;

	ret = resolve(tf, d, od, op, NEED_WRITE, &a);
	if (ret)
		return ret;
	ret = resolve(tf, d, nd, np, NEED_WRITE, &b);
	if (ret) {
		sbx_fs_release(&S.fs, &a);
		return ret;
	}
	if (!a.name[0] || !b.name[0])
		res = -EBUSY;
	else
		res = sys(SYS_renameat2, a.dirfd, (long)a.name, b.dirfd, (long)b.name, flags, 0);
	if (!res)
		sbx_fs_invalidate(&S.fs);
	sbx_fs_release(&S.fs, &a);
	sbx_fs_release(&S.fs, &b);
	return res;
}

static long do_link(struct dune_tf *tf, const struct sc_desc *d, int od, const char *op, int nd, const char *np,
		    int flags)
{
	struct sbx_resolved a, b;
	int ret, hops = 0;
	long res;

	if ((flags & AT_EMPTY_PATH) && !*op) {
		/* link the program's own fd: only one opened where the policy allows writes */
		if (sbx_is_monitor_fd(od))
			return -EBADF;
		if (!sbx_wfd(od)) {
			S.ndenied++;
			sbx_log_syscall(tf, d, "deny", -EPERM, "linking a file opened outside files.write");
			return -EPERM;
		}
		ret = resolve(tf, d, nd, np, NEED_WRITE, &b);
		if (ret)
			return ret;
		res = b.name[0] ? sys(SYS_linkat, od, (long)"", b.dirfd, (long)b.name, AT_EMPTY_PATH, 0) : -EEXIST;
		sbx_fs_release(&S.fs, &b);
		return res;
	}
	ret = resolve(tf, d, od, op, NEED_WRITE, &a);
	if (ret)
		return ret;
	while ((flags & AT_SYMLINK_FOLLOW) && (ret = maybe_follow(tf, d, &a, NEED_WRITE, &hops)) == 1)
		;
	if (ret < 0)
		return ret;
	ret = resolve(tf, d, nd, np, NEED_WRITE, &b);
	if (ret) {
		sbx_fs_release(&S.fs, &a);
		return ret;
	}
	res = a.name[0] && b.name[0] ? sys(SYS_linkat, a.dirfd, (long)a.name, b.dirfd, (long)b.name, 0, 0) : -EPERM;
	sbx_fs_release(&S.fs, &a);
	sbx_fs_release(&S.fs, &b);
	return res;
}

/* ----------------------------------------------- calls on the object itself */

/* chmod, chown, truncate, utimes, statfs, chdir, xattrs, inotify: through an fd of the object */
static long on_object(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, bool follow,
		      enum sbx_need need, int oflags, int *fd_out, struct sbx_resolved *r)
{
	int ret = resolve(tf, d, dirfd, path, need, r), fd;

	if (ret)
		return ret;
	fd = object_fd(tf, d, r, oflags, follow, need);
	sbx_fs_release(&S.fs, r);
	if (fd < 0)
		return fd;
	*fd_out = fd;
	return 0;
}

static long do_chmod(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, mode_t mode,
		     int flags)
{
	struct sbx_resolved r;
	struct stat st;
	char p[32];
	int fd;
	long res = on_object(tf, d, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), NEED_WRITE, O_PATH, &fd, &r);

	if (res)
		return res;
	if (!fstat(fd, &st) && S_ISLNK(st.st_mode))
		res = -EOPNOTSUPP;	/* a symlink's mode cannot be changed */
	else
		res = sys(SYS_chmod, (long)sbx_fd_path(fd, p), mode, 0, 0, 0, 0);
	close(fd);
	return res;
}

static long do_chown(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path, long uid, long gid,
		     int flags)
{
	struct sbx_resolved r;
	int fd;
	long res;

	if (!*path && (flags & AT_EMPTY_PATH)) {
		if (sbx_is_monitor_fd(dirfd))
			return -EBADF;
		if (!sbx_wfd(dirfd))
			return -EPERM;
		return sys(SYS_fchownat, dirfd, (long)"", uid, gid, AT_EMPTY_PATH, 0);
	}
	res = on_object(tf, d, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), NEED_WRITE, O_PATH, &fd, &r);
	if (res)
		return res;
	res = sys(SYS_fchownat, fd, (long)"", uid, gid, AT_EMPTY_PATH, 0);
	close(fd);
	return res;
}

static long do_utimens(struct dune_tf *tf, const struct sc_desc *d, int dirfd, const char *path,
		       const struct timespec *ts, int flags)
{
	struct sbx_resolved r;
	int fd;
	long res = on_object(tf, d, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), NEED_WRITE, O_PATH, &fd, &r);

	if (res)
		return res;
	res = sys(SYS_utimensat, fd, (long)"", (long)ts, AT_EMPTY_PATH, 0, 0);
	close(fd);
	return res;
}

static long do_xattr(struct dune_tf *tf, const struct sc_desc *d, const char *path, const char *name)
{
	long nr = (long)tf->rax;
	bool l = nr == SYS_lgetxattr || nr == SYS_lsetxattr || nr == SYS_llistxattr || nr == SYS_lremovexattr;
	bool w = nr == SYS_setxattr || nr == SYS_lsetxattr || nr == SYS_removexattr || nr == SYS_lremovexattr;
	struct sbx_resolved r;
	char p[32];
	int fd;
	long res = on_object(tf, d, AT_FDCWD, path, !l, w ? NEED_WRITE : NEED_READ, O_PATH, &fd, &r);

	if (res)
		return res;
	sbx_fd_path(fd, p);
	switch (nr) {
	case SYS_getxattr:
	case SYS_lgetxattr: {
		uint64_t buf = tf->rdx, size = tf->r10;

		if (size && !sbx_range_ok(&S.ua, buf, size))
			res = -EFAULT;
		else
			res = sys(SYS_getxattr, (long)p, (long)name, (long)buf, (long)size, 0, 0);
		break;
	}
	case SYS_setxattr:
	case SYS_lsetxattr: {
		uint64_t buf = tf->rdx, size = tf->r10;

		if (size && !sbx_range_ok(&S.ua, buf, size))
			res = -EFAULT;
		else
			res = sys(SYS_setxattr, (long)p, (long)name, (long)buf, (long)size, (long)tf->r8, 0);
		break;
	}
	case SYS_listxattr:
	case SYS_llistxattr: {
		uint64_t buf = tf->rsi, size = tf->rdx;

		if (size && !sbx_range_ok(&S.ua, buf, size))
			res = -EFAULT;
		else
			res = sys(SYS_listxattr, (long)p, (long)buf, (long)size, 0, 0, 0);
		break;
	}
	default:
		res = sys(SYS_removexattr, (long)p, (long)name, 0, 0, 0, 0);
	}
	close(fd);
	return res;
}

static int set_cwd_from(int fd)
{
	char p[32], buf[4096];
	ssize_t n = readlink(sbx_fd_path(fd, p), buf, sizeof(buf) - 1);

	if (n <= 0 || buf[0] != '/')
		return -ENOTDIR;
	buf[n] = '\0';
	snprintf(S.fs.cwd, sizeof(S.fs.cwd), "%s", buf);
	return 0;
}

long sbx_fchdir(int fd)
{
	long res;

	if (sbx_is_monitor_fd(fd))
		return -EBADF;
	res = sys(SYS_fchdir, fd, 0, 0, 0, 0, 0);
	if (!res)
		set_cwd_from(fd);
	return res;
}

/* ------------------------------------------------------------- dispatch */

void sbx_fs_syscall(struct dune_tf *tf, const struct sc_desc *d)
{
	long nr = (long)tf->rax, res = -ENOSYS, err = 0;
	char *p1 = NULL, *p2 = NULL, *s = NULL;
	struct sbx_resolved r;
	int fd;

	/* copy the path arguments (and the string one) first */
	switch (nr) {
	case SYS_open: case SYS_stat: case SYS_lstat: case SYS_access: case SYS_truncate: case SYS_chdir:
	case SYS_mkdir: case SYS_rmdir: case SYS_creat: case SYS_unlink: case SYS_readlink: case SYS_chmod:
	case SYS_chown: case SYS_lchown: case SYS_utime: case SYS_utimes: case SYS_mknod: case SYS_statfs:
	case SYS_setxattr: case SYS_lsetxattr: case SYS_getxattr: case SYS_lgetxattr: case SYS_listxattr:
	case SYS_llistxattr: case SYS_removexattr: case SYS_lremovexattr:
		p1 = copy_path(tf, 0, &err);
		break;
	case SYS_rename: case SYS_link:
		p1 = copy_path(tf, 0, &err);
		if (p1)
			p2 = copy_path(tf, 1, &err);
		break;
	case SYS_symlink:
		s = copy_path(tf, 0, &err);
		if (s)
			p1 = copy_path(tf, 1, &err);
		break;
	case SYS_symlinkat:
		s = copy_path(tf, 0, &err);
		if (s)
			p1 = copy_path(tf, 2, &err);
		break;
	case SYS_inotify_add_watch:
		p1 = copy_path(tf, 1, &err);
		break;
	case SYS_renameat: case SYS_renameat2: case SYS_linkat:
		p1 = copy_path(tf, 1, &err);
		if (p1)
			p2 = copy_path(tf, 3, &err);
		break;
	case SYS_utimensat:
		if (!tf->rsi)	/* futimens(fd) */
			break;
		p1 = copy_path(tf, 1, &err);
		break;
	default:	/* the *at calls: path in arg 1 */
		p1 = copy_path(tf, 1, &err);
		break;
	}
	if (err) {
		res = err;
		goto out;
	}
	switch (d->group == G_XATTR && nr != SYS_fsetxattr ? -1 : nr) {
	case -1: {
		char *name = NULL;

		if (nr != SYS_listxattr && nr != SYS_llistxattr) {
			name = copy_path(tf, 1, &err);
			if (!name) {
				res = err;
				break;
			}
		}
		res = do_xattr(tf, d, p1, name);
		free(name);
		break;
	}
	case SYS_open:
		res = do_open(tf, d, AT_FDCWD, p1, (int)tf->rsi, (mode_t)tf->rdx);
		break;
	case SYS_creat:
		res = do_open(tf, d, AT_FDCWD, p1, O_CREAT | O_WRONLY | O_TRUNC, (mode_t)tf->rsi);
		break;
	case SYS_openat:
		res = do_open(tf, d, (int)tf->rdi, p1, (int)tf->rdx, (mode_t)tf->r10);
		break;
	case SYS_openat2: {
		struct { uint64_t flags, mode, resolve; } how;

		if (tf->r10 < sizeof(how)) {
			res = -EINVAL;
			break;
		}
		if (sbx_copy_in(&how, tf->rdx, sizeof(how))) {
			res = -EFAULT;
			break;
		}
		if (how.resolve || how.flags >> 32) {
			res = -ENOSYS;	/* RESOLVE_* of the program's own: not offered (programs fall back to openat) */
			break;
		}
		res = do_open(tf, d, (int)tf->rdi, p1, (int)how.flags, (mode_t)how.mode);
		break;
	}
	case SYS_stat:
		res = do_stat(tf, d, AT_FDCWD, p1, tf->rsi, 0, false, 0);
		break;
	case SYS_lstat:
		res = do_stat(tf, d, AT_FDCWD, p1, tf->rsi, AT_SYMLINK_NOFOLLOW, false, 0);
		break;
	case SYS_newfstatat:
		res = do_stat(tf, d, (int)tf->rdi, p1, tf->rdx, (int)tf->r10, false, 0);
		break;
	case SYS_statx:
		res = do_stat(tf, d, (int)tf->rdi, p1, tf->r8, (int)tf->rdx, true, (unsigned)tf->r10);
		break;
	case SYS_access:
		res = do_access(tf, d, AT_FDCWD, p1, (int)tf->rsi, 0);
		break;
	case SYS_faccessat:
		res = do_access(tf, d, (int)tf->rdi, p1, (int)tf->rdx, 0);
		break;
	case SYS_faccessat2:
		res = do_access(tf, d, (int)tf->rdi, p1, (int)tf->rdx, (int)tf->r10);
		break;
	case SYS_readlink:
		res = do_readlink(tf, d, AT_FDCWD, p1, tf->rsi, (long)tf->rdx);
		break;
	case SYS_readlinkat:
		res = do_readlink(tf, d, (int)tf->rdi, p1, tf->rdx, (long)tf->r10);
		break;
	case SYS_mkdir:
		res = entry_op(tf, d, AT_FDCWD, p1, SYS_mkdirat, (long)tf->rsi, 0, NULL);
		break;
	case SYS_mkdirat:
		res = entry_op(tf, d, (int)tf->rdi, p1, SYS_mkdirat, (long)tf->rdx, 0, NULL);
		break;
	case SYS_mknod:
	case SYS_mknodat: {
		mode_t mode = (mode_t)(nr == SYS_mknod ? tf->rsi : tf->rdx);
		long dev = (long)(nr == SYS_mknod ? tf->rdx : tf->r10);

		if (S_ISCHR(mode) || S_ISBLK(mode)) {
			S.ndenied++;
			sbx_log_syscall(tf, d, "deny", -EPERM, "device nodes are never allowed");
			res = -EPERM;
			break;
		}
		res = entry_op(tf, d, nr == SYS_mknod ? AT_FDCWD : (int)tf->rdi, p1, SYS_mknodat, mode, dev, NULL);
		break;
	}
	case SYS_unlink:
		res = entry_op(tf, d, AT_FDCWD, p1, SYS_unlinkat, 0, 0, NULL);
		break;
	case SYS_rmdir:
		res = entry_op(tf, d, AT_FDCWD, p1, SYS_unlinkat, AT_REMOVEDIR, 0, NULL);
		break;
	case SYS_unlinkat:
		res = entry_op(tf, d, (int)tf->rdi, p1, SYS_unlinkat, (long)tf->rdx, 0, NULL);
		break;
	case SYS_symlink:
		res = entry_op(tf, d, AT_FDCWD, p1, SYS_symlinkat, 0, 0, s);
		break;
	case SYS_symlinkat:
		res = entry_op(tf, d, (int)tf->rsi, p1, SYS_symlinkat, 0, 0, s);
		break;
	case SYS_rename:
		res = do_rename(tf, d, AT_FDCWD, p1, AT_FDCWD, p2, 0);
		break;
	case SYS_renameat:
		res = do_rename(tf, d, (int)tf->rdi, p1, (int)tf->rdx, p2, 0);
		break;
	case SYS_renameat2:
		res = do_rename(tf, d, (int)tf->rdi, p1, (int)tf->rdx, p2, (unsigned)tf->r8);
		break;
	case SYS_link:
		res = do_link(tf, d, AT_FDCWD, p1, AT_FDCWD, p2, 0);
		break;
	case SYS_linkat:
		res = do_link(tf, d, (int)tf->rdi, p1, (int)tf->rdx, p2, (int)tf->r8);
		break;
	case SYS_chmod:
		res = do_chmod(tf, d, AT_FDCWD, p1, (mode_t)tf->rsi, 0);
		break;
	case SYS_fchmodat:
		res = do_chmod(tf, d, (int)tf->rdi, p1, (mode_t)tf->rdx, 0);
		break;
	case SYS_chown:
		res = do_chown(tf, d, AT_FDCWD, p1, (long)tf->rsi, (long)tf->rdx, 0);
		break;
	case SYS_lchown:
		res = do_chown(tf, d, AT_FDCWD, p1, (long)tf->rsi, (long)tf->rdx, AT_SYMLINK_NOFOLLOW);
		break;
	case SYS_fchownat:
		res = do_chown(tf, d, (int)tf->rdi, p1, (long)tf->rdx, (long)tf->r10, (int)tf->r8);
		break;
	case SYS_utime:
	case SYS_utimes:
	case SYS_futimesat:
	case SYS_utimensat: {
		struct timespec ts[2], *tsp = ts;
		uint64_t t = nr == SYS_utime || nr == SYS_utimes ? tf->rsi : tf->rdx;
		int dirfd = nr == SYS_utime || nr == SYS_utimes ? AT_FDCWD : (int)tf->rdi;
		int flags = nr == SYS_utimensat ? (int)tf->r10 : 0;

		if (!t) {
			tsp = NULL;
		} else if (nr == SYS_utime) {
			struct utimbuf u;

			if (sbx_copy_in(&u, t, sizeof(u))) {
				res = -EFAULT;
				break;
			}
			ts[0].tv_sec = u.actime;
			ts[1].tv_sec = u.modtime;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
		} else if (nr == SYS_utimensat) {
			if (sbx_copy_in(ts, t, sizeof(ts))) {
				res = -EFAULT;
				break;
			}
		} else {
			struct timeval tv[2];

			if (sbx_copy_in(tv, t, sizeof(tv))) {
				res = -EFAULT;
				break;
			}
			if (tv[0].tv_usec < 0 || tv[0].tv_usec >= 1000000 || tv[1].tv_usec < 0 || tv[1].tv_usec >= 1000000) {
				res = -EINVAL;
				break;
			}
			ts[0].tv_sec = tv[0].tv_sec;
			ts[0].tv_nsec = tv[0].tv_usec * 1000;
			ts[1].tv_sec = tv[1].tv_sec;
			ts[1].tv_nsec = tv[1].tv_usec * 1000;
		}
		if (nr == SYS_utimensat && !tf->rsi) {
			/* futimens(fd, times) */
			if (sbx_is_monitor_fd(dirfd))
				res = -EBADF;
			else if (!sbx_wfd(dirfd))
				res = -EPERM;
			else
				res = sys(SYS_utimensat, dirfd, 0, (long)tsp, 0, 0, 0);
			break;
		}
		res = do_utimens(tf, d, dirfd, p1, tsp, flags);
		break;
	}
	case SYS_truncate: {
		long len = (long)tf->rsi;

		res = on_object(tf, d, AT_FDCWD, p1, true, NEED_WRITE, O_WRONLY | O_NONBLOCK, &fd, &r);
		if (res)
			break;
		res = sys(SYS_ftruncate, fd, len, 0, 0, 0, 0);
		close(fd);
		break;
	}
	case SYS_statfs:
		if (!sbx_range_ok(&S.ua, tf->rsi, 120 /* struct statfs */) || !tf->rsi) {
			res = -EFAULT;
			break;
		}
		res = on_object(tf, d, AT_FDCWD, p1, true, NEED_READ, O_PATH, &fd, &r);
		if (res)
			break;
		res = sys(SYS_fstatfs, fd, (long)tf->rsi, 0, 0, 0, 0);
		close(fd);
		break;
	case SYS_chdir:
		res = on_object(tf, d, AT_FDCWD, p1, true, NEED_READ, O_PATH | O_DIRECTORY, &fd, &r);
		if (res)
			break;
		res = sys(SYS_fchdir, fd, 0, 0, 0, 0, 0);
		if (!res)
			set_cwd_from(fd);
		close(fd);
		break;
	case SYS_inotify_add_watch: {
		int ifd = (int)tf->rdi;
		unsigned mask = (unsigned)tf->rdx;
		char p[32];

		if (sbx_is_monitor_fd(ifd)) {
			res = -EBADF;
			break;
		}
		res = on_object(tf, d, AT_FDCWD, p1, !(mask & IN_DONT_FOLLOW), NEED_READ, O_PATH, &fd, &r);
		if (res)
			break;
		res = sys(SYS_inotify_add_watch, ifd, (long)sbx_fd_path(fd, p), mask | IN_DONT_FOLLOW, 0, 0, 0);
		close(fd);
		break;
	}
	default:
		res = -ENOSYS;
		break;
	}
out:
	free(p1);
	free(p2);
	free(s);
	SET_RET(tf, res);
}
