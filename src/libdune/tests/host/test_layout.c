/* Host tests for layout.h (host-virtual <-> guest-physical). */
#include "test.h"
#include "../../layout.h"

static const struct dune_layout L39 = {
	.phys_limit = 1ULL << 39,
	.base_map = 0x7f0000000000ULL - GPA_MAP_SIZE,
	.base_stack = 0x7ffe00000000ULL,
};

static void test_regions(void)
{
	const struct dune_layout *l = &L39;
	uint64_t ident = l->phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;

	CHECK_EQ(dune_layout_va_to_pa(l, 0x400000), 0x400000);
	CHECK_EQ(dune_layout_va_to_pa(l, ident - 1), ident - 1);
	CHECK_EQ(dune_layout_va_to_pa(l, l->base_stack), l->phys_limit - GPA_STACK_SIZE);
	CHECK_EQ(dune_layout_va_to_pa(l, l->base_stack + GPA_STACK_SIZE - 1), l->phys_limit - 1);
	CHECK_EQ(dune_layout_va_to_pa(l, l->base_stack + GPA_STACK_SIZE), DUNE_BAD_PA);
	CHECK_EQ(dune_layout_va_to_pa(l, l->base_map), ident);
	CHECK_EQ(dune_layout_va_to_pa(l, l->base_map + GPA_MAP_SIZE - 1), ident + GPA_MAP_SIZE - 1);
	CHECK_EQ(dune_layout_va_to_pa(l, l->base_map - 1), DUNE_BAD_PA);
	CHECK_EQ(dune_layout_va_to_pa(l, 0x555555554000ULL), DUNE_BAD_PA);	/* PIE text: not representable */
}

static void test_roundtrip(void)
{
	const struct dune_layout *l = &L39;
	const uint64_t vas[] = { 0, 0x1000, 0x400123, l->base_map, l->base_map + 0x123456789ULL,
				 l->base_stack + 0x1000, l->base_stack + GPA_STACK_SIZE - 8 };
	size_t i;

	for (i = 0; i < sizeof(vas) / sizeof(vas[0]); i++) {
		uint64_t pa = dune_layout_va_to_pa(l, vas[i]);

		CHECK(pa != DUNE_BAD_PA);
		CHECK(pa < l->phys_limit);
		CHECK_EQ(dune_layout_pa_to_va(l, pa), vas[i]);
	}
	CHECK_EQ(dune_layout_pa_to_va(l, l->phys_limit), DUNE_BAD_PA);
}

static void test_identity_precedence(void)
{
	/* Wide physical space: the whole user half is identity-mapped. */
	struct dune_layout l = { 1ULL << 48, 0x7f0000000000ULL, 0x7ffe00000000ULL };

	CHECK_EQ(dune_layout_va_to_pa(&l, 0x7ffe00001000ULL), 0x7ffe00001000ULL);
	CHECK_EQ(dune_layout_contig(&l, 0x1000, 0x2000), 0x2000);
}

static void test_contig(void)
{
	const struct dune_layout *l = &L39;
	uint64_t ident = l->phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;

	CHECK_EQ(dune_layout_contig(l, ident - 0x1000, 0x10000), 0x1000);
	CHECK_EQ(dune_layout_contig(l, l->base_map + GPA_MAP_SIZE - 0x2000, 0x10000), 0x2000);
	CHECK_EQ(dune_layout_contig(l, l->base_stack, 0x5000), 0x5000);
	CHECK_EQ(dune_layout_contig(l, 0x555555554000ULL, 0x1000), 0);
}

static void test_overlap(void)
{
	/* stack window (2 MiB aligned, not 1 GiB) overlapping the top of the map window */
	const struct dune_layout o = { 1ULL << 40, 0x7fff40000000ULL - GPA_MAP_SIZE, 0x7fff04600000ULL };
	uint64_t ident = o.phys_limit - GPA_MAP_SIZE - GPA_STACK_SIZE;

	CHECK_EQ(dune_layout_va_to_pa(&o, o.base_stack), o.phys_limit - GPA_STACK_SIZE);
	CHECK_EQ(dune_layout_va_to_pa(&o, o.base_stack - 0x1000), o.base_stack - 0x1000 - o.base_map + ident);
	/* a map-window extent stops where the stack window takes over */
	CHECK_EQ(dune_layout_contig(&o, o.base_stack - 0x3000, 0x10000), 0x3000);
	CHECK_EQ(dune_layout_contig(&o, o.base_stack, 0x10000), 0x10000);
	CHECK_EQ(dune_layout_pa_to_va(&o, dune_layout_va_to_pa(&o, o.base_stack + 0x5000)), o.base_stack + 0x5000);
}

const struct test_case layout_tests[] = {
	{ "layout: stack window overlapping the map window", test_overlap },
	{ "layout: region translation", test_regions },
	{ "layout: va->pa->va round trip", test_roundtrip },
	{ "layout: identity region first", test_identity_precedence },
	{ "layout: contiguous extents", test_contig },
	TEST_LIST_END
};
