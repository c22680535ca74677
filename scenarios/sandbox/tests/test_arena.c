/* test_arena.c - the bookkeeping of the program's address space, against a page bitmap oracle. */
#include <stdint.h>

#include "test.h"
#include "arena.h"

#define PG	4096ULL
#define NPG	1024ULL		/* a 4 MiB arena for the oracle test */

static void add_remove_merge_split(void)
{
	struct arena a;

	arena_init(&a, 0x10000, 0x10000000);
	CHECK(!arena_add(&a, 0x100000, 0x200000) && a.n == 1 && a.used == 0x100000);
	CHECK(!arena_add(&a, 0x200000, 0x300000) && a.n == 1 && a.used == 0x200000);	/* adjacent: merged */
	CHECK(!arena_add(&a, 0x500000, 0x600000) && a.n == 2);
	CHECK(!arena_add(&a, 0x250000, 0x550000) && a.n == 1 && a.r[0].start == 0x100000 && a.r[0].end == 0x600000);
	CHECK(a.used == 0x500000);
	CHECK(!arena_remove(&a, 0x300000, 0x400000) && a.n == 2 && a.used == 0x400000);	/* split */
	CHECK(arena_mapped(&a, 0x100000, 0x300000) && !arena_mapped(&a, 0x100000, 0x300001 + 0xfff));
	CHECK(arena_overlaps(&a, 0x2ff000, 0x301000) && !arena_overlaps(&a, 0x300000, 0x400000));
	CHECK(arena_occupied_in(&a, 0x0, 0x10000000) == 0x400000);
	CHECK(!arena_remove(&a, 0, 0x10000000) && a.n == 0 && a.used == 0);
	CHECK(arena_contains(&a, 0x10000, 0x10000000) && !arena_contains(&a, 0x0, 0x20000) &&
	      !arena_contains(&a, 0x10000, 0x10001000));
	arena_free(&a);
}

static void find_is_top_down_and_avoids_brk(void)
{
	struct arena a;
	uint64_t p;

	arena_init(&a, 0x10000, 0x40000000);
	a.mmap_top = 0x3f000000;
	p = arena_find(&a, 0x2000, false);
	CHECK(p == 0x3f000000 - 0x2000);
	arena_add(&a, p, p + 0x2000);
	CHECK(arena_find(&a, 0x1000, false) == p - 0x1000);		/* right below */
	arena_add(&a, 0x3e000000, 0x3effe000);
	CHECK(arena_find(&a, 0x1000, false) == 0x3e000000 - 0x1000);	/* the gap was 0 bytes */
	/* the brk zone is stepped over */
	a.brk_lo = 0x30000000;
	a.brk_hi = 0x3e000000;
	p = arena_find(&a, 0x1000, false);
	CHECK(p == 0x30000000 - 0x1000);
	/* below 2 GiB is honoured (MAP_32BIT) */
	arena_free(&a);
	arena_init(&a, 0x10000, 0x4000000000ULL);
	p = arena_find(&a, 0x1000, true);
	CHECK(p && p + 0x1000 <= (2ULL << 30));
	p = arena_find(&a, 0x1000, false);
	CHECK(p == 0x4000000000ULL - 0x1000);
	/* the monitor's window is never handed out, nor counted as inside */
	arena_set_hole(&a, 0x40000000, 0x80000000);
	CHECK(!arena_contains(&a, 0x3ffff000, 0x40001000) && arena_contains(&a, 0x3ffff000, 0x40000000) &&
	      arena_contains(&a, 0x80000000, 0x80001000));
	a.mmap_top = 0x80010000;
	CHECK(arena_find(&a, 0x10000, false) == 0x80000000);
	CHECK(arena_find(&a, 0x20000, false) == 0x40000000 - 0x20000);	/* does not fit above: below it */
	a.mmap_top = 0x4000000000ULL;
	/* nothing fits */
	CHECK(arena_find(&a, 0x5000000000ULL, false) == 0);
	CHECK(arena_find(&a, 123, false) == 0);
	arena_free(&a);
}

/* random operations against a page bitmap: occupancy, usage and every found gap agree */
static void random_against_oracle(void)
{
	static unsigned char pages[NPG];
	struct arena a;
	uint64_t seed = 12345, base = 0x100000;
	int step, errors = 0;

	memset(pages, 0, sizeof(pages));
	arena_init(&a, base, base + NPG * PG);
	a.brk_lo = base + 100 * PG;
	a.brk_hi = base + 200 * PG;
	arena_set_hole(&a, base + 600 * PG, base + 700 * PG);
	for (step = 0; step < 20000 && errors < 5; step++) {
		uint64_t s, n, i, used = 0;
		int op;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		op = (int)(seed >> 60) & 3;
		s = (seed >> 20) % NPG;
		n = 1 + (seed >> 40) % 64;
		if (s + n > NPG)
			n = NPG - s;
		if (op == 0 || op == 1) {
			arena_add(&a, base + s * PG, base + (s + n) * PG);
			memset(pages + s, 1, n);
		} else if (op == 2) {
			arena_remove(&a, base + s * PG, base + (s + n) * PG);
			memset(pages + s, 0, n);
		} else {
			uint64_t p = arena_find(&a, n * PG, false);

			if (p) {
				uint64_t k = (p - base) / PG;

				for (i = k; i < k + n; i++)
					if (pages[i] || (i >= 100 && i < 200) || (i >= 600 && i < 700)) {
						errors++;
						printf("  find gave a used page %llu\n", (unsigned long long)i);
						break;
					}
			} else {
				/* is there really no free run of n pages (outside the brk zone, above the floor)? */
				uint64_t run = 0;

				for (i = 16; i < NPG; i++) {
					run = (pages[i] || (i >= 100 && i < 200) || (i >= 600 && i < 700)) ? 0 : run + 1;
					if (run >= n) {
						errors++;
						printf("  find missed a gap of %llu pages\n", (unsigned long long)n);
						break;
					}
				}
			}
		}
		for (i = 0; i < NPG; i++)
			used += pages[i];
		if (used * PG != a.used) {
			errors++;
			printf("  step %d: used %llu, oracle %llu\n", step, (unsigned long long)a.used,
			       (unsigned long long)(used * PG));
		}
		if (arena_mapped(&a, base + s * PG, base + (s + n) * PG) != !memchr(pages + s, 0, n)) {
			errors++;
			printf("  step %d: mapped() disagrees\n", step);
		}
	}
	CHECK(errors == 0);
	/* the ranges are sorted, disjoint, not adjacent */
	{
		size_t i;

		for (i = 1; i < a.n; i++)
			CHECK(a.r[i - 1].end < a.r[i].start);
	}
	arena_free(&a);
}

TESTS(arena_tests) = {
	T(add_remove_merge_split),
	T(find_is_top_down_and_avoids_brk),
	T(random_against_oracle),
	{ NULL, NULL },
};
