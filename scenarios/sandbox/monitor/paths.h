/*
 * paths.h - the program's paths, resolved and checked against the policy
 * without time-of-check/time-of-use holes.
 *
 * A path is made absolute (cwd or the directory fd it is relative to),
 * matched against the policy's prefixes (longest wins), and the directory
 * part is opened *beneath the prefix's own directory fd* with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: the kernel itself guarantees the
 * walk never leaves the prefix, whatever symlinks or renames happen
 * meanwhile.  The operation then runs on (directory fd, last component)
 * with "don't follow" semantics; when the last component is a symlink the
 * operation should follow, its target is resolved as a new path, checked
 * again.  Paths with ".." or symlinks leaving their prefix take a slow path
 * that canonicalizes them component by component (never walking into a
 * directory the policy does not reach), then the fast path runs on the
 * canonical result.  Files like /proc/self/mem and /dev/dune are refused
 * whatever the policy says.
 */
#ifndef SBX_PATHS_H
#define SBX_PATHS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

#define SBX_DIRCACHE	16

enum sbx_need {
	NEED_READ,	/* read, list, stat, execute */
	NEED_WRITE,	/* create, change, remove */
};

/* Why a path was refused (for the log). */
enum sbx_why {
	WHY_NONE,
	WHY_OUTSIDE,	/* no prefix of the policy covers it */
	WHY_READONLY,	/* covered by files.read only */
	WHY_FORBIDDEN,	/* always refused (/proc/self/mem, /dev/dune, ...) */
};

struct sbx_fs {
	const struct sbx_policy *pol;
	int root_fd[SBX_MAX_PREFIXES];	/* O_PATH fd of each prefix, -1 if it did not exist */
	char cwd[4096];			/* the program's working directory (canonical) */
	char exe[4096];			/* what /proc/self/exe names for the program */
	pid_t pid;			/* /proc/<pid> is /proc/self */
	/* fds the resolver keeps open become the monitor's: this moves them out of the program's way */
	int (*keep_fd)(int fd, void *ctx);
	void (*drop_fd)(int fd, void *ctx);
	void *ctx;
	struct {
		int prefix;		/* -1: empty */
		int fd;
		uint64_t used;
		char rel[256];
	} cache[SBX_DIRCACHE];
	uint64_t tick;
	bool nocache;			/* no cache (several threads resolve at once) */
	/* statistics */
	uint64_t fast, slow, cache_hits;
};

/* Where a path ended up: operate on (dirfd, name). */
struct sbx_resolved {
	int dirfd;		/* monitor fd of the directory (or of the object itself if name is "") */
	bool close_dirfd;	/* a temporary fd: close with sbx_fs_release */
	char name[260];		/* last component; "" when the path names a prefix itself */
	bool slash;		/* the path ended with '/' */
	char path[4096];	/* the absolute path checked (for the log) */
	bool writable;		/* its prefix is in files.write */
	enum sbx_why why;	/* on -EACCES/-EPERM: why */
};

/* Open the prefixes' directories; 0 or -errno (prefixes that do not exist are skipped). */
int sbx_fs_init(struct sbx_fs *fs, const struct sbx_policy *pol, const char *cwd, pid_t pid,
		int (*keep_fd)(int, void *), void (*drop_fd)(int, void *), void *ctx);
/* After fork: /proc/self prefixes must name the child. */
int sbx_fs_after_fork(struct sbx_fs *fs, pid_t pid);
/* Forget cached directories (after renames and removals). */
void sbx_fs_invalidate(struct sbx_fs *fs);

/*
 * Resolve path relative to dirfd (AT_FDCWD or the program's fd) for need.
 * The last component is not followed.  0 or -errno (-EACCES with r->why
 * for policy refusals, -ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, ...).
 */
int sbx_fs_resolve(struct sbx_fs *fs, int dirfd, const char *path, enum sbx_need need, struct sbx_resolved *r);
void sbx_fs_release(struct sbx_fs *fs, struct sbx_resolved *r);

/*
 * The last component of r is a symlink the operation follows: resolve its
 * target (relative to r's directory) into r, checked again for need.
 * *hops counts links followed (-ELOOP after 40).
 */
int sbx_fs_follow(struct sbx_fs *fs, struct sbx_resolved *r, enum sbx_need need, int *hops);

/*
 * Open the object r names (following a final symlink if follow) with
 * flags (O_PATH etc.), beneath r's directory.  Returns an fd (the
 * caller's) or -errno; r is updated when links were followed.
 */
int sbx_fs_open_final(struct sbx_fs *fs, struct sbx_resolved *r, int flags, mode_t mode, bool follow,
		      enum sbx_need need);

/* Is path (absolute) a directory above one of the policy's (existing) prefixes?  Those exist. */
bool sbx_fs_is_ancestor(const struct sbx_fs *fs, const char *path);

/* What open(2) with these flags needs from the policy. */
enum sbx_need sbx_open_need(int flags);

/* "/proc/self/fd/N" for fd (buffer of 32). */
const char *sbx_fd_path(int fd, char buf[32]);

/* Lexical clean-up of an absolute path: "//" and "." removed; returns -1 if it keeps a ".." */
int sbx_path_clean(char *path);

#endif
