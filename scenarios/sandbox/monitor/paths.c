/*
 * paths.c - path resolution and policy checks (see paths.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "paths.h"

#define MAX_HOPS	40

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
	struct open_how how;
	long r;

	memset(&how, 0, sizeof(how));
	how.flags = flags;
	how.mode = mode;
	how.resolve = resolve;
	r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return r < 0 ? -errno : r;
}

enum sbx_need sbx_open_need(int flags)
{
	/* __O_TMPFILE includes O_DIRECTORY's bit: test for all of it */
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) || (flags & __O_TMPFILE) == __O_TMPFILE)
		return NEED_WRITE;
	return NEED_READ;
}

const char *sbx_fd_path(int fd, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* The kernel's name for an fd we hold (its canonical path), or -errno. */
static int fd_realpath(int fd, char *out, size_t len)
{
	char p[32];
	ssize_t n = readlink(sbx_fd_path(fd, p), out, len - 1);

	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	if (out[0] != '/')
		return -ENOTDIR;	/* pipe:[..], socket:[..], anon_inode:... */
	return 0;
}

int sbx_path_clean(char *path)
{
	char *r = path, *w = path;
	int dots = 0;

	while (*r) {
		if (*r == '/') {
			while (r[1] == '/')
				r++;
			if (r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
				r += 2;
				continue;
			}
			if (r[1] == '.' && r[2] == '.' && (r[3] == '/' || r[3] == '\0'))
				dots = 1;
		}
		*w++ = *r++;
	}
	*w = '\0';
	if (w - path > 1 && w[-1] == '/')
		w[-1] = '\0';
	if (!*path) {
		path[0] = '/';
		path[1] = '\0';
	}
	return dots ? -1 : 0;
}

/* /proc/<our pid> and /proc/thread-self are /proc/self (the program's own). */
static void proc_self_alias(const struct sbx_fs *fs, char *path)
{
	char pre[48];
	size_t n;

	n = (size_t)snprintf(pre, sizeof(pre), "/proc/%d", (int)fs->pid);
	if (!strncmp(path, pre, n) && (path[n] == '/' || !path[n])) {
		memmove(path + 10, path + n, strlen(path + n) + 1);
		memcpy(path, "/proc/self", 10);
	}
}

/* Always refused, whatever the policy: the monitor's own memory and the host's devices. */
static bool forbidden(const char *p)
{
	static const char *const exact[] = {
		"/dev/dune", "/dev/mem", "/dev/kmem", "/dev/port", "/dev/kvm", "/proc/kcore",
		"/proc/sysrq-trigger", "/proc/kallsyms", NULL,
	};
	static const char *const under[] = {
		"/proc/self/mem", "/proc/self/pagemap", "/proc/self/map_files", "/proc/self/task",
		"/proc/self/syscall", "/proc/self/stack", "/proc/self/attr", "/dev/cpu", "/sys/kernel/debug",
		"/sys/firmware", "/proc/sys", "/proc/self/fdinfo", NULL,
	};
	int i;

	for (i = 0; exact[i]; i++)
		if (!strcmp(p, exact[i]))
			return true;
	for (i = 0; under[i]; i++) {
		size_t n = strlen(under[i]);

		if (!strncmp(p, under[i], n) && (p[n] == '/' || !p[n]))
			return true;
	}
	return false;
}

/* May the walk pass through canonical directory p (covered by a prefix, or an ancestor of one)? */
static bool traversable(const struct sbx_fs *fs, const char *real)
{
	const struct sbx_policy *pol = fs->pol;
	char p[4096];
	size_t n;
	int i;

	snprintf(p, sizeof(p), "%s", real);
	proc_self_alias(fs, p);
	n = strlen(p);
	if (sbx_policy_match(pol, p))
		return true;
	for (i = 0; i < pol->nprefixes; i++) {
		const char *pre = pol->prefixes[i].path;

		if (n == 1 || (!strncmp(pre, p, n) && pre[n] == '/'))
			return true;
	}
	return false;
}

bool sbx_fs_is_ancestor(const struct sbx_fs *fs, const char *path)
{
	char p[4096];
	size_t n;
	int i;

	snprintf(p, sizeof(p), "%s", path);
	if (sbx_path_clean(p))
		return false;
	n = strlen(p);
	for (i = 0; i < fs->pol->nprefixes; i++) {
		const char *pre = fs->pol->prefixes[i].path;

		if (fs->root_fd[i] >= 0 && (n == 1 || (!strncmp(pre, p, n) && pre[n] == '/')))
			return true;
	}
	return false;
}

int sbx_fs_init(struct sbx_fs *fs, const struct sbx_policy *pol, const char *cwd, pid_t pid,
		int (*keep_fd)(int, void *), void (*drop_fd)(int, void *), void *ctx)
{
	int i;

	memset(fs, 0, sizeof(*fs));
	fs->pol = pol;
	fs->pid = pid;
	fs->keep_fd = keep_fd;
	fs->drop_fd = drop_fd;
	fs->ctx = ctx;
	snprintf(fs->cwd, sizeof(fs->cwd), "%s", cwd);
	for (i = 0; i < SBX_DIRCACHE; i++) {
		fs->cache[i].prefix = -1;
		fs->cache[i].fd = -1;
	}
	for (i = 0; i < SBX_MAX_PREFIXES; i++)
		fs->root_fd[i] = -1;
	for (i = 0; i < pol->nprefixes; i++) {
		int fd = open(pol->prefixes[i].path, O_PATH | O_CLOEXEC);

		if (fd < 0) {
			if (errno == ENOENT)
				continue;	/* a prefix that does not exist (yet) covers nothing */
			return -errno;
		}
		fd = keep_fd ? keep_fd(fd, ctx) : fd;
		if (fd < 0)
			return fd;
		fs->root_fd[i] = fd;
	}
	return 0;
}

void sbx_fs_invalidate(struct sbx_fs *fs)
{
	int i;

	for (i = 0; i < SBX_DIRCACHE; i++) {
		if (fs->cache[i].prefix >= 0) {
			if (fs->drop_fd)
				fs->drop_fd(fs->cache[i].fd, fs->ctx);
			else
				close(fs->cache[i].fd);
		}
		fs->cache[i].prefix = -1;
		fs->cache[i].fd = -1;
	}
}

int sbx_fs_after_fork(struct sbx_fs *fs, pid_t pid)
{
	int i;

	fs->pid = pid;
	sbx_fs_invalidate(fs);
	for (i = 0; i < fs->pol->nprefixes; i++) {
		const char *p = fs->pol->prefixes[i].path;
		int fd;

		if (strncmp(p, "/proc/self", 10) || (p[10] && p[10] != '/'))
			continue;
		fd = open(p, O_PATH | O_CLOEXEC);
		if (fd >= 0 && fs->keep_fd)
			fd = fs->keep_fd(fd, fs->ctx);
		if (fs->root_fd[i] >= 0) {
			if (fs->drop_fd)
				fs->drop_fd(fs->root_fd[i], fs->ctx);
			else
				close(fs->root_fd[i]);
		}
		fs->root_fd[i] = fd < 0 ? -1 : fd;
	}
	return 0;
}

void sbx_fs_release(struct sbx_fs *fs, struct sbx_resolved *r)
{
	(void)fs;
	if (r->close_dirfd && r->dirfd >= 0)
		close(r->dirfd);
	r->close_dirfd = false;
	r->dirfd = -1;
}

/* Directory rel beneath prefix i: from the cache, or opened beneath the prefix's fd. */
static int open_dir(struct sbx_fs *fs, int i, const char *rel, bool *temp)
{
	int k, victim = 0, fd;

	*temp = false;
	if (!*rel)
		return fs->root_fd[i];
	if (strlen(rel) < sizeof(fs->cache[0].rel) && !fs->nocache)
		for (k = 0; k < SBX_DIRCACHE; k++)
			if (fs->cache[k].prefix == i && !strcmp(fs->cache[k].rel, rel)) {
				fs->cache[k].used = ++fs->tick;
				fs->cache_hits++;
				return fs->cache[k].fd;
			}
	fd = (int)sys_openat2(fs->root_fd[i], rel, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
			      RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return fd;
	if (strlen(rel) >= sizeof(fs->cache[0].rel) || !fs->keep_fd || fs->nocache) {
		*temp = true;
		return fd;
	}
	for (k = 1; k < SBX_DIRCACHE; k++)
		if (fs->cache[k].used < fs->cache[victim].used)
			victim = k;
	if (fs->cache[victim].prefix >= 0) {
		if (fs->drop_fd)
			fs->drop_fd(fs->cache[victim].fd, fs->ctx);
		else
			close(fs->cache[victim].fd);
		fs->cache[victim].prefix = -1;
	}
	fd = fs->keep_fd(fd, fs->ctx);
	if (fd < 0)
		return fd;
	fs->cache[victim].prefix = i;
	fs->cache[victim].fd = fd;
	fs->cache[victim].used = ++fs->tick;
	snprintf(fs->cache[victim].rel, sizeof(fs->cache[victim].rel), "%s", rel);
	return fd;
}

/* Policy decision for canonical absolute path p: the matching prefix index, or -EACCES with why. */
static int decide(struct sbx_fs *fs, const char *p, enum sbx_need need, struct sbx_resolved *r)
{
	const struct sbx_prefix *pre;

	if (forbidden(p)) {
		r->why = WHY_FORBIDDEN;
		return -EACCES;
	}
	pre = sbx_policy_match(fs->pol, p);
	if (!pre) {
		r->why = WHY_OUTSIDE;
		return -EACCES;
	}
	if (need == NEED_WRITE && !pre->write) {
		r->why = WHY_READONLY;
		return -EACCES;
	}
	r->writable = pre->write;
	return (int)(pre - fs->pol->prefixes);
}

/*
 * Fast path: p is absolute and clean (no "." or ".."): directory part opened
 * beneath the prefix.  -EXDEV / -ELOOP: a symlink leaves the prefix (the
 * caller canonicalizes and retries).
 */
static int resolve_clean(struct sbx_fs *fs, const char *p, enum sbx_need need, struct sbx_resolved *r, uint64_t extra)
{
	const char *pre, *rel, *slash;
	char dir[4096];
	bool temp;
	int i, fd;

	snprintf(r->path, sizeof(r->path), "%s", p);
	i = decide(fs, p, need, r);
	if (i < 0)
		return i;
	if (fs->root_fd[i] < 0)
		return -ENOENT;
	pre = fs->pol->prefixes[i].path;
	rel = p + (strcmp(pre, "/") ? strlen(pre) : 0);
	while (*rel == '/')
		rel++;
	if (!*rel) {
		r->dirfd = fs->root_fd[i];
		r->close_dirfd = false;
		r->name[0] = '\0';
		return 0;
	}
	slash = strrchr(rel, '/');
	if (!slash) {
		dir[0] = '\0';
		slash = rel - 1;
	} else {
		if ((size_t)(slash - rel) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, rel, (size_t)(slash - rel));
		dir[slash - rel] = '\0';
	}
	if (strlen(slash + 1) > 255)
		return -ENAMETOOLONG;
	strcpy(r->name, slash + 1);
	if (extra) {
		/* a canonical path: no symlink may appear in it (a concurrent swap): fail, the caller retries */
		fd = *dir ? (int)sys_openat2(fs->root_fd[i], dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
					     RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | extra) : fs->root_fd[i];
		temp = *dir != '\0';
	} else {
		fd = open_dir(fs, i, dir, &temp);
	}
	if (fd < 0)
		return fd;
	r->dirfd = fd;
	r->close_dirfd = temp;
	return 0;
}

/*
 * Slow path: canonicalize absolute path p (may contain "..", symlinks that
 * leave a prefix): walk it component by component, expanding symlinks,
 * never entering a directory the policy does not reach.  The last component
 * is kept as is (not followed).  Result in out (absolute, clean).
 */
static int canonicalize(struct sbx_fs *fs, const char *p, char *out, size_t outlen, struct sbx_resolved *r)
{
	char *work = malloc(2 * 4096 + 2), *rest, *comp, real[4096], link[4096];
	int hops = 0, ret = 0;
	size_t rl;

	if (!work)
		return -ENOMEM;
	snprintf(work, 2 * 4096 + 2, "%s", p);
	strcpy(real, "/");
	rest = work;
	for (;;) {
		char *next;
		struct stat st;
		ssize_t n;

		while (*rest == '/')
			rest++;
		if (!*rest)
			break;
		comp = rest;
		next = strchr(rest, '/');
		if (next) {
			*next = '\0';
			rest = next + 1;
		} else {
			rest += strlen(rest);
		}
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *s = strrchr(real, '/');

			if (s && s != real)
				*s = '\0';
			else
				strcpy(real, "/");
			continue;
		}
		rl = strlen(real);
		if (rl + 1 + strlen(comp) >= sizeof(real)) {
			ret = -ENAMETOOLONG;
			goto out;
		}
		if (!traversable(fs, real)) {
			snprintf(r->path, sizeof(r->path), "%s", real);
			r->why = WHY_OUTSIDE;
			ret = -EACCES;
			goto out;
		}
		if (strcmp(real, "/"))
			strcat(real, "/");
		strcat(real, comp);
		while (*rest == '/')
			rest++;
		if (!*rest)
			break;	/* the last component: not followed here */
		if (lstat(real, &st)) {
			ret = -errno;
			goto out;
		}
		if (!S_ISLNK(st.st_mode)) {
			if (!S_ISDIR(st.st_mode)) {
				ret = -ENOTDIR;
				goto out;
			}
			continue;
		}
		if (++hops > MAX_HOPS) {
			ret = -ELOOP;
			goto out;
		}
		n = readlink(real, link, sizeof(link) - 1);
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		link[n] = '\0';
		/* drop the link from real; splice its target in front of the rest */
		{
			char *s = strrchr(real, '/');
			size_t need = (size_t)n + 1 + strlen(rest) + 1;
			char *nw;

			if (s && s != real)
				*s = '\0';
			else
				strcpy(real, "/");
			if (link[0] == '/')
				strcpy(real, "/");
			if (need > 2 * 4096) {
				ret = -ENAMETOOLONG;
				goto out;
			}
			nw = malloc(2 * 4096 + 2);
			if (!nw) {
				ret = -ENOMEM;
				goto out;
			}
			memcpy(nw, link, (size_t)n);
			nw[n] = '/';
			memcpy(nw + n + 1, rest, strlen(rest) + 1);
			free(work);
			work = nw;
			rest = work;
		}
	}
	proc_self_alias(fs, real);
	if (strlen(real) >= outlen) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	strcpy(out, real);
out:
	free(work);
	return ret;
}

int sbx_fs_resolve(struct sbx_fs *fs, int dirfd, const char *path, enum sbx_need need, struct sbx_resolved *r)
{
	char abs[4096 + 2], canon[4096];
	size_t len = strlen(path);
	int ret, tries;

	memset(r, 0, sizeof(*r));
	r->dirfd = -1;
	if (!len)
		return -ENOENT;
	if (len >= 4096)
		return -ENAMETOOLONG;
	r->slash = path[len - 1] == '/';
	if (path[0] == '/') {
		strcpy(abs, path);
	} else {
		char base[4096];

		if (dirfd == AT_FDCWD)
			snprintf(base, sizeof(base), "%s", fs->cwd);
		else {
			ret = fd_realpath(dirfd, base, sizeof(base));
			if (ret)
				return ret == -ENOENT ? -EBADF : ret;
		}
		if (strlen(base) + 1 + len >= sizeof(abs))
			return -ENAMETOOLONG;
		snprintf(abs, sizeof(abs), "%s/%s", base, path);
	}
	if (sbx_path_clean(abs) == 0) {
		proc_self_alias(fs, abs);
		if (!strcmp(abs, "/proc/self/exe") && fs->exe[0]) {
			snprintf(abs, sizeof(abs), "%s", fs->exe);
			if (sbx_path_clean(abs))
				goto slow;
		}
		ret = resolve_clean(fs, abs, need, r, 0);
		if (ret != -EXDEV && ret != -ELOOP) {
			fs->fast++;
			return ret;
		}
		sbx_fs_release(fs, r);
	}
slow:
	fs->slow++;
	for (tries = 0; tries < 8; tries++) {
		r->why = WHY_NONE;
		ret = canonicalize(fs, abs, canon, sizeof(canon), r);
		if (ret)
			return ret;
		ret = resolve_clean(fs, canon, need, r, RESOLVE_NO_SYMLINKS);
		if (ret != -ELOOP && ret != -EXDEV)
			return ret;
		sbx_fs_release(fs, r);	/* a symlink appeared meanwhile: again */
	}
	return -ELOOP;
}

int sbx_fs_follow(struct sbx_fs *fs, struct sbx_resolved *r, enum sbx_need need, int *hops)
{
	char link[4096], dir[4096], next[8200];
	ssize_t n;
	bool slash = r->slash;
	int ret;

	if (++*hops > MAX_HOPS)
		return -ELOOP;
	if (!r->name[0])
		return -EINVAL;
	n = readlinkat(r->dirfd, r->name, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (link[0] == '/') {
		snprintf(next, sizeof(next), "%s%s", link, slash ? "/" : "");
	} else {
		ret = fd_realpath(r->dirfd, dir, sizeof(dir));
		if (ret)
			return ret;
		proc_self_alias(fs, dir);
		snprintf(next, sizeof(next), "%s/%s%s", dir, link, slash ? "/" : "");
	}
	if (strlen(next) >= 4096)
		return -ENAMETOOLONG;
	sbx_fs_release(fs, r);
	return sbx_fs_resolve(fs, AT_FDCWD, next, need, r);
}

/* open(2) ignores flag bits it does not know and extra flags with O_PATH; openat2 refuses them */
static uint64_t open_flags(int flags)
{
	const int valid = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC |
			  FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC |
			  O_PATH | O_SYNC | __O_TMPFILE;

	if (flags & O_PATH)
		flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	return (uint64_t)(unsigned int)(flags & valid);
}

int sbx_fs_open_final(struct sbx_fs *fs, struct sbx_resolved *r, int flags, mode_t mode, bool follow,
		      enum sbx_need need)
{
	int hops = 0;

	for (;;) {
		long fd;
		struct stat st;

		if (!r->name[0]) {
			char p[32];

			/* the prefix itself: reopen our O_PATH fd with the wanted flags.  Not O_NOFOLLOW:
			 * /proc/self/fd/N is the magic link we must follow (ELOOP, or an fd of the link
			 * with O_PATH); the prefix was resolved when the policy was loaded. */
			if ((flags & O_CREAT) && (flags & O_EXCL))
				return -EEXIST;
			fd = open(sbx_fd_path(r->dirfd, p), (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC, mode);
			return fd < 0 ? -errno : (int)fd;
		}
		fd = sys_openat2(r->dirfd, r->slash ? strcat(r->name, "/") : r->name, open_flags(flags) | O_NOFOLLOW,
				 ((flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE) ? mode & 07777 : 0,
				 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
		if (r->slash)
			r->name[strlen(r->name) - 1] = '\0';
		if (fd >= 0 && (flags & O_PATH) && follow && !fstat((int)fd, &st) && S_ISLNK(st.st_mode)) {
			close((int)fd);
			fd = -ELOOP;
		}
		if (fd == -EXDEV)
			fd = -ELOOP;	/* "name/" where name is a symlink leaving the directory */
		if (fd != -ELOOP || !follow)
			return (int)fd;
		/* is it really a symlink (not "too many levels")? */
		if (fstatat(r->dirfd, r->name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISLNK(st.st_mode))
			return -ELOOP;
		fd = sbx_fs_follow(fs, r, need, &hops);
		if (fd)
			return (int)fd;
	}
}
