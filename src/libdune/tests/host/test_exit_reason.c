/* Host tests for dune_exit_reason_name() (exit_reason.c). */
#include <string.h>

#include "test.h"
#include "../../dune.h"

static int name_is(unsigned int reason, const char *want)
{
	const char *n = dune_exit_reason_name(reason);

	return n && !strcmp(n, want);
}

static void test_known_names(void)
{
	CHECK(name_is(0, "EXCEPTION_NMI"));
	CHECK(name_is(1, "EXTERNAL_INTERRUPT"));
	CHECK(name_is(2, "TRIPLE_FAULT"));
	CHECK(name_is(7, "INTERRUPT_WINDOW"));
	CHECK(name_is(10, "CPUID"));
	CHECK(name_is(12, "HLT"));
	CHECK(name_is(18, "VMCALL"));
	CHECK(name_is(31, "MSR_READ"));
	CHECK(name_is(32, "MSR_WRITE"));
	CHECK(name_is(48, "EPT_VIOLATION"));
	CHECK(name_is(49, "EPT_MISCONFIG"));
	CHECK(name_is(55, "XSETBV"));
	CHECK(name_is(75, "NOTIFY"));
}

static void test_gaps_and_range(void)
{
	unsigned int r, named = 0;

	CHECK(dune_exit_reason_name(5) == NULL);	/* I/O SMI: Linux has no name */
	CHECK(dune_exit_reason_name(35) == NULL);
	CHECK(dune_exit_reason_name(76) == NULL);
	CHECK(dune_exit_reason_name(DUNE_STATS_EXIT_REASONS) == NULL);
	CHECK(dune_exit_reason_name(~0u) == NULL);
	/* Names are unique and fit the counters' index space. */
	for (r = 0; r < DUNE_STATS_EXIT_REASONS; r++) {
		const char *n = dune_exit_reason_name(r);
		unsigned int q;

		if (!n)
			continue;
		named++;
		CHECK(*n != '\0');
		for (q = 0; q < r; q++) {
			const char *m = dune_exit_reason_name(q);

			CHECK(!m || strcmp(m, n));
		}
	}
	CHECK_EQ(named, 62);	/* every EXIT_REASON_* of Linux 6.1 */
}

const struct test_case exit_reason_tests[] = {
	{ "exit_reason/known_names", test_known_names },
	{ "exit_reason/gaps_and_range", test_gaps_and_range },
	TEST_LIST_END
};
