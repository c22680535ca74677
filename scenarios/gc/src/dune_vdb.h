/*
 * The Dune dirty-page provider for bdwgc (our GC_vdb_client hook): the collector asks
 * for the pages of its heap sections and static roots written since the last pass; we
 * walk libdune's page table over each range, report and clear PTE_D, and flush the TLB
 * once at the end of the pass.  See README.md.
 */
#ifndef GCX_DUNE_VDB_H
#define GCX_DUNE_VDB_H

#include "gc.h"

struct dune_vdb_stats {
	unsigned long passes;		/* read_done calls: one per collector read */
	unsigned long ranges;		/* read_range calls */
	unsigned long leaves;		/* present leaves visited (4 KiB PTEs and 2 MiB PDEs) */
	unsigned long pages_reported;	/* 4 KiB pages reported dirty */
	unsigned long big_dirty;	/* 2 MiB leaves found dirty (all their pages reported) */
	unsigned long big_split;	/* 2 MiB leaves split into 4 KiB ones (once each) */
	unsigned long split_failed;	/* splits that failed (the leaf stays 2 MiB: coarse but correct) */
	unsigned long flushes;		/* TLB flushes (at most one per pass) */
};

extern const struct GC_vdb_client dune_vdb_client;
extern struct dune_vdb_stats dune_vdb_stats;

/* Are we running in Dune mode (VMX non-root, CPL 0)? */
int dune_vdb_in_dune(void);

#endif
