/*
 * check.h - the argument checker: every pointer and length argument of a
 * system call, as its signature (systab.h) describes it, is checked against
 * the program's memory before the host kernel sees it.
 *
 * The rule is simple so that it can hold: the program's memory is one fixed
 * address range (the arena, [lo, hi), less the window [hole_lo, hole_hi)
 * where the monitor's own image and heap live); the monitor never has
 * memory in the arena and the program never gets memory anywhere else.  A pointer argument is
 * accepted only if every byte the kernel may touch through it lies in the
 * arena (NULL is passed on: page 0 is never mapped, so the kernel answers
 * EFAULT or treats it as "absent" exactly as it would natively).  Lengths
 * the kernel reads from the program's memory (iovec lengths, msghdr fields,
 * socklen_t value-results) are copied into the monitor first and the kernel
 * gets the copies, so a second thread cannot change them after the check.
 * Strings and paths are copied too.  A buffer whose length is a register
 * argument is clamped to the end of the program's part of the range (the
 * kernel writes at most that much; a read(2) with a huge count behaves as
 * natively).
 */
#ifndef SBX_CHECK_H
#define SBX_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "systab.h"

#define SBX_PATH_MAX	4096
#define SBX_IOV_MAX	1024	/* UIO_MAXIOV */

struct sbx_uaccess {
	uintptr_t lo, hi;	/* the program's address range... */
	uintptr_t hole_lo, hole_hi;	/* ...minus this one (the monitor's image and heap); may be empty */
	/* fault-safe copy from the program's memory: 0 or -EFAULT */
	int (*copy_in)(void *dst, uintptr_t src, size_t len, void *ctx);
	/* fault-safe copy to the program's memory: 0 or -EFAULT */
	int (*copy_out)(uintptr_t dst, const void *src, size_t len, void *ctx);
	bool (*monitor_fd)(int fd, void *ctx);	/* fd belongs to the monitor */
	bool (*fd_writable)(int fd, void *ctx);	/* fd was opened where the policy allows writes */
	void *ctx;
};

/* One copy the checker made (freed by sbx_checked_free). */
struct sbx_copy {
	struct sbx_copy *next;
	char data[];
};

/* What the host gets after a successful check, and what must be copied back. */
struct sbx_checked {
	uint64_t a[6];		/* arguments for the host (copies substituted, lengths clamped) */
	char *str[6];		/* A_PATH / A_STR: the copied string, else NULL */
	struct sbx_copy *copies;
	/* value-results to copy back to the program after the call */
	int nback;
	struct {
		uintptr_t user;	/* where in the program's memory */
		void *mon;	/* the monitor's copy the kernel wrote */
		size_t len;
		int kind;	/* 0: always; 1: msghdr fields; 2: mmsghdr array (count = result) */
	} back[6];
	int bad_arg;		/* on failure: the argument at fault (for the log), else -1 */
};

/* Is [p, p+len) inside the program's memory?  len 0: p anywhere in [lo, hi] outside the hole. */
static inline bool sbx_range_ok(const struct sbx_uaccess *u, uint64_t p, uint64_t len)
{
	if (p < u->lo || p > u->hi || len > u->hi - p)
		return false;
	if (u->hole_hi > u->hole_lo && p < u->hole_hi && p + len > u->hole_lo)
		return false;
	return !(len == 0 && p >= u->hole_lo && p < u->hole_hi);
}

/* How many bytes from p on are the program's (0 if p is not): the end of its part of the range. */
static inline uint64_t sbx_room(const struct sbx_uaccess *u, uint64_t p)
{
	if (p < u->lo || p >= u->hi)
		return 0;
	if (u->hole_hi > u->hole_lo) {
		if (p >= u->hole_lo && p < u->hole_hi)
			return 0;
		if (p < u->hole_lo)
			return u->hole_lo - p;
	}
	return u->hi - p;
}

/*
 * Check the arguments of call d (numbers in args) and build what the host
 * gets in out.  0, or -errno the program should see (-EFAULT for a bad
 * pointer, -EBADF for a monitor fd, -ENAMETOOLONG, -EINVAL, -EPERM for a
 * write through a read-only fd, -ENOMEM).  out must be freed with
 * sbx_checked_free either way.
 */
int sbx_check(const struct sc_desc *d, const uint64_t args[6], const struct sbx_uaccess *u,
	      struct sbx_checked *out);

/* After the host ran the call (result ret): copy value-results back.  0 or -EFAULT. */
int sbx_check_after(const struct sc_desc *d, struct sbx_checked *c, const struct sbx_uaccess *u, long ret);

void sbx_checked_free(struct sbx_checked *c);

/* Copy a NUL-terminated string of at most max bytes (NUL included): malloc'd, or NULL with *err. */
char *sbx_copy_string(const struct sbx_uaccess *u, uint64_t p, size_t max, int *err);

/* Allocate scratch memory owned by c. */
void *sbx_scratch(struct sbx_checked *c, size_t len);

#endif
