/*
 * The Dune dirty-page provider: bdwgc's virtual dirty bits from the hardware dirty bits
 * of the page table libdune built for this process (pgroot, loaded in CR3).
 *
 * For each range the collector asks about, dune_vm_page_walk visits the present leaves;
 * a leaf with PTE_D set is reported (every 4 KiB page of it inside the range) and its
 * PTE_D cleared.  The CPU caches D in the TLB: a translation cached with D=1 would let
 * later writes through without setting D again, so after clearing, the TLB must be
 * flushed before the mutator runs.  Once per pass (read_done), not once per page: the
 * collector holds the world stopped between the first read_range and read_done.
 *
 * 2 MiB leaves: libdune mirrors memory with 2 MiB pages where virtual and guest-physical
 * addresses allow; one D bit for 512 pages would make the whole 2 MiB dirty on any write.
 * The first pass that meets one reports all of its pages if D is set, clears D, and
 * splits it into 512 4 KiB PTEs (D clear) after the walk, so later passes are exact.
 * (libdune never maps 1 GiB leaves, so PTE_PS here means 2 MiB; a later host-side
 * re-mirror of a split range keeps 4 KiB entries, pt_map only puts 2 MiB leaves where no
 * table exists.)  If a split fails (no page-table page), the leaf stays 2 MiB: coarse but
 * still correct.
 *
 * Writes done by the host kernel on the process's behalf (a read(2) into the heap, run
 * by dune.ko's host side) go through the host's page tables and set no guest D bit: like
 * bdwgc's mprotect back end, this one requires that system calls do not write to the
 * collected heap.  The benchmarks keep I/O buffers out of it.
 */
#include <stddef.h>
#include <stdint.h>

#include <dune.h>
#include <cpu-x86.h>
#include <mmu.h>

#include "dune_vdb.h"

#define PG		4096UL
#define BIG		(2UL << 20)
#define MAX_SPLIT	64	/* per range; any left over are split by a later pass */

struct dune_vdb_stats dune_vdb_stats;

struct walk {
	uintptr_t start, end;
	GC_vdb_report_proc report;
	void *report_data;
	unsigned long cleared;
	int nbig;
	uintptr_t big[MAX_SPLIT];
};

int dune_vdb_in_dune(void)
{
	return (read_cs() & 3) == 0;
}

static int GC_CALLBACK vdb_init(void *data)
{
	(void)data;
	/* The page table is only ours (and CR3/INVLPG usable) in Dune mode. */
	return dune_vdb_in_dune() && pgroot != NULL;
}

static int visit(const void *arg, ptent_t *pte, void *va)
{
	struct walk *w = (struct walk *)arg;
	uintptr_t a = (uintptr_t)va;
	ptent_t e = *pte;

	dune_vdb_stats.leaves++;
	if (e & PTE_PS) {
		if (w->nbig < MAX_SPLIT)
			w->big[w->nbig++] = a;
		if (e & PTE_D) {
			uintptr_t p = a > w->start ? a : w->start;
			uintptr_t lim = a + BIG < w->end ? a + BIG : w->end;

			dune_vdb_stats.big_dirty++;
			for (; p < lim; p += PG) {
				w->report((void *)p, w->report_data);
				dune_vdb_stats.pages_reported++;
			}
		}
	} else if (e & PTE_D) {
		w->report(va, w->report_data);
		dune_vdb_stats.pages_reported++;
	}
	if (e & PTE_D) {
		/* Plain store: the world is stopped and this is the only vCPU that runs the
		 * mutator; the CPU sets D with a locked RMW only through a D=0 TLB entry. */
		*pte = e & ~PTE_D;
		w->cleared++;
	}
	return 0;
}

static void GC_CALLBACK vdb_read_range(void *data, void *start, void *end,
				       GC_vdb_report_proc report, void *report_data)
{
	struct walk *w = (struct walk *)data;
	uintptr_t s = (uintptr_t)start & ~(PG - 1);
	uintptr_t e = ((uintptr_t)end + PG - 1) & ~(PG - 1);
	int i;

	dune_vdb_stats.ranges++;
	if (s >= e)
		return;
	w->start = s;
	w->end = e;
	w->report = report;
	w->report_data = report_data;
	w->nbig = 0;
	if (dune_vm_page_walk(pgroot, (void *)s, (void *)e, visit, w) != 0)
		return;		/* visit never stops the walk */
	for (i = 0; i < w->nbig; i++) {
		ptent_t *pte;

		/* D was cleared above, so the 512 new PTEs start clean. */
		if (dune_vm_lookup(pgroot, (void *)w->big[i], CREATE_NORMAL, &pte) == 0)
			dune_vdb_stats.big_split++;
		else
			dune_vdb_stats.split_failed++;
	}
	if (w->nbig)
		w->cleared++;	/* a split changed the table: flush */
}

static void GC_CALLBACK vdb_read_done(void *data)
{
	struct walk *w = (struct walk *)data;

	dune_vdb_stats.passes++;
	if (w->cleared) {
		dune_flush_tlb();
		dune_vdb_stats.flushes++;
		w->cleared = 0;
	}
}

static struct walk walk_state;

const struct GC_vdb_client dune_vdb_client = {
	.name = "dune",
	.init = vdb_init,
	.read_range = vdb_read_range,
	.read_done = vdb_read_done,
	.data = &walk_state,
};
