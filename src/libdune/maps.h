/*
 * maps.h - parser for /proc/<pid>/maps text (pure, host-testable).
 */
#ifndef LIBDUNE_MAPS_H
#define LIBDUNE_MAPS_H

#include <stddef.h>
#include <stdint.h>

/* Internal to libdune.so (the host unit tests link the source directly). */
#pragma GCC visibility push(hidden)

#define MAPS_R		0x1
#define MAPS_W		0x2
#define MAPS_X		0x4
#define MAPS_SHARED	0x8

enum maps_kind {
	MAPS_KIND_FILE,		/* file-backed or anonymous */
	MAPS_KIND_HEAP,		/* [heap] */
	MAPS_KIND_STACK,	/* [stack] */
	MAPS_KIND_VDSO,		/* [vdso] */
	MAPS_KIND_VVAR,		/* [vvar], [vvar_vclock] */
	MAPS_KIND_VSYSCALL,	/* [vsyscall] */
	MAPS_KIND_OTHER,	/* any other [bracketed] name */
};

struct maps_entry {
	uint64_t start, end;
	int prot;		/* MAPS_* bits */
	enum maps_kind kind;
	const char *path;	/* points into the buffer, not NUL-terminated */
	size_t path_len;
};

/*
 * Parse buf[0..len).  Calls cb for each well-formed line; stops and returns
 * cb's value if non-zero.  Returns 0 at the end, -1 on a malformed line.
 */
typedef int (*maps_cb)(const struct maps_entry *e, void *arg);
int maps_parse(const char *buf, size_t len, maps_cb cb, void *arg);

#pragma GCC visibility pop

#endif /* LIBDUNE_MAPS_H */
