/*
 * compat/dune_procmap.h - the original libdune's /proc/self/maps iterator
 * types (included by compat/dune.h and by compat.c).
 */
#ifndef LIBDUNE_COMPAT_DUNE_PROCMAP_H
#define LIBDUNE_COMPAT_DUNE_PROCMAP_H

#include <stdbool.h>
#include <stdint.h>

#define PROCMAP_TYPE_UNKNOWN	0x00
#define PROCMAP_TYPE_FILE	0x01
#define PROCMAP_TYPE_ANONYMOUS	0x02
#define PROCMAP_TYPE_HEAP	0x03
#define PROCMAP_TYPE_STACK	0x04
#define PROCMAP_TYPE_VSYSCALL	0x05
#define PROCMAP_TYPE_VDSO	0x06
#define PROCMAP_TYPE_VVAR	0x07

struct dune_procmap_entry {
	uintptr_t begin;
	uintptr_t end;
	uint64_t offset;
	bool r;			/* readable */
	bool w;			/* writable */
	bool x;			/* executable */
	bool p;			/* private (else shared) */
	char *path;		/* "" for anonymous memory; valid during the callback */
	int type;		/* PROCMAP_TYPE_* */
};

typedef void (*dune_procmap_cb)(const struct dune_procmap_entry *);

/* Call cb for every line of /proc/self/maps (works on the host and in Dune mode). */
void dune_procmap_iterate(dune_procmap_cb cb);
/* Print the map with dune_printf. */
void dune_procmap_dump(void);

#endif /* LIBDUNE_COMPAT_DUNE_PROCMAP_H */
