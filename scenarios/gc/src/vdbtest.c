/*
 * vdbtest: the Dune dirty-page provider on its own, in Dune mode, against pages whose
 * writes we know (no collector involved).
 *
 *   1. a 4 MiB anonymous region at a 2 MiB-aligned identity-mapped address: libdune
 *      mirrors it with two 2 MiB leaves;
 *   2. one write, one pass: the dirty 2 MiB leaf is reported whole, the clean one not,
 *      both are split into 4 KiB PTEs, one TLB flush;
 *   3. writes to pages 5 and 700, a read of page 9: the next pass reports exactly 5 and
 *      700; a pass with no writes reports nothing and does not flush;
 *   4. page 5 written again: reported again (the flush after clearing D worked: a stale
 *      D=1 TLB entry would have let the write through without setting D);
 *   5. a range that starts and ends inside pages reports the pages it touches.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <dune.h>
#include <mmu.h>

#include "dune_vdb.h"

#define PG	4096UL
#define BIG	(2UL << 20)
#define NPG	1024		/* 4 MiB */

static char *R;
static unsigned char seen[NPG];
static unsigned long nseen, outside;

static void GC_CALLBACK collect(void *p, void *data)
{
	uintptr_t a = (uintptr_t)p;

	(void)data;
	if (a < (uintptr_t)R || a >= (uintptr_t)R + NPG * PG) {
		outside++;
		return;
	}
	if (!seen[(a - (uintptr_t)R) / PG]++)
		nseen++;
}

static void pass(void *start, void *end)
{
	const struct GC_vdb_client *c = &dune_vdb_client;

	memset(seen, 0, sizeof(seen));
	nseen = outside = 0;
	c->read_range(c->data, start, end, collect, NULL);
	c->read_done(c->data);
}

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL vdbtest: " __VA_ARGS__); printf("\n"); return 1; } } while (0)

static int is_big(void *va)
{
	ptent_t *pte;

	return dune_vm_lookup(pgroot, va, CREATE_NONE, &pte) == 0 && (*pte & PTE_PS);
}

int main(void)
{
	volatile char *v;
	unsigned long f0;
	uintptr_t cand;
	int r, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	r = dune_init_and_enter();
	CHECK(r == 0, "dune_init_and_enter: %d", r);
	CHECK(dune_vdb_client.init(dune_vdb_client.data), "provider init refused in Dune mode");
	/* an identity-mapped (va == guest-physical), 2 MiB-aligned spot: 2 MiB leaves */
	for (cand = 1UL << 30; cand < (64UL << 30); cand += 1UL << 30) {
		void *p;

		if (dune_va_to_pa((void *)cand) != cand)
			continue;
		p = mmap((void *)cand, NPG * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == (void *)cand) {
			R = p;
			break;
		}
		if (p != MAP_FAILED)
			munmap(p, NPG * PG);
	}
	CHECK(R, "no free identity-mapped 2 MiB-aligned address below 64 GiB");
	v = R;
	CHECK(is_big(R) && is_big(R + BIG), "libdune did not mirror %p with 2 MiB leaves", (void *)R);

	/* 2: one write in the first 2 MiB */
	v[3 * PG] = 1;
	f0 = dune_vdb_stats.flushes;
	pass(R, R + NPG * PG);
	CHECK(nseen == 512 && seen[0] && seen[511] && !seen[512] && !outside,
	      "dirty 2 MiB leaf: %lu pages reported (want the 512 of the first leaf)", nseen);
	CHECK(dune_vdb_stats.big_dirty == 1 && dune_vdb_stats.big_split == 2,
	      "big_dirty %lu big_split %lu (want 1, 2)", dune_vdb_stats.big_dirty, dune_vdb_stats.big_split);
	CHECK(!is_big(R) && !is_big(R + BIG), "2 MiB leaves not split");
	CHECK(dune_vdb_stats.flushes == f0 + 1, "%lu flushes for one pass", dune_vdb_stats.flushes - f0);

	/* 3: exact 4 KiB reports */
	v[5 * PG + 17] = 2;
	v[700 * PG + 4095] = 3;
	(void)v[9 * PG];
	pass(R, R + NPG * PG);
	CHECK(nseen == 2 && seen[5] && seen[700], "after writes to pages 5, 700: %lu pages reported", nseen);
	f0 = dune_vdb_stats.flushes;
	pass(R, R + NPG * PG);
	CHECK(nseen == 0, "no writes, yet %lu pages reported", nseen);
	CHECK(dune_vdb_stats.flushes == f0, "a pass that cleared nothing flushed the TLB");

	/* 4: the same page again, after its D bit was cleared and the TLB flushed */
	for (i = 0; i < 3; i++) {
		v[5 * PG] = (char)(10 + i);
		pass(R, R + NPG * PG);
		CHECK(nseen == 1 && seen[5], "rewrite %d of page 5: %lu pages reported", i, nseen);
	}

	/* 5: unaligned range ends */
	v[100 * PG] = 4;
	v[101 * PG] = 4;
	v[102 * PG] = 4;
	pass(R + 100 * PG + 123, R + 101 * PG + 1);
	CHECK(nseen == 2 && seen[100] && seen[101], "unaligned range: %lu pages reported", nseen);
	pass(R, R + NPG * PG);
	CHECK(nseen == 1 && seen[102], "page 102 outside the last range must still be dirty (%lu)", nseen);

	printf("PASS vdbtest passes=%lu leaves=%lu pages=%lu big_split=%lu flushes=%lu\n",
	       dune_vdb_stats.passes, dune_vdb_stats.leaves, dune_vdb_stats.pages_reported,
	       dune_vdb_stats.big_split, dune_vdb_stats.flushes);
	return 0;
}
