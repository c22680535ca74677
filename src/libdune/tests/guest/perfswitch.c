/*
 * perfswitch: the host's perf counters are switched around the guest as
 * kvm_intel does (perf_guest_get_msrs() into the VM-entry/exit MSR-load
 * lists, src/kmod/host_state.c): a counter that excludes the guest stops
 * while this thread runs in VMX non-root mode, and one that excludes the
 * host counts only there.
 *
 * Three hardware counters of retired instructions on this thread, rings 0
 * and 3 both (the Dune guest runs at CPL0): G with exclude_host (guest
 * only), H with exclude_guest (host only) and T with neither.  The same loop
 * of N iterations (at least N instructions) runs first on the host, then in
 * Dune mode:
 *   host loop:  H grows by >= N, G by < N/100;
 *   Dune loop:  G grows by >= N;
 *   both:       G + H = T within N/100: every instruction was counted by
 *               exactly one of G and H.
 * Without the switch G never counts (perf keeps it off in the host's
 * GLOBAL_CTRL, and nothing turns it on at VM entry), so the Dune loop's
 * G >= N fails; if H were not stopped in the guest, it would count the loop
 * as well and G + H would exceed T by the whole loop.  The sum is checked
 * rather than H alone because how much host work the loop's exits cost
 * depends on the machine (its timer and interrupt rates, its mitigations):
 * while dunelab's Bochs sent timer interrupts ~146x too early (until its
 * patch 0005), H grew by almost as much as G.
 * The counters must not have been multiplexed (time running = enabled).
 *
 * Needs a hardware PMU in the machine that runs dune.ko.  dunelab's Bochs
 * has one (bochs-patches/0004: architectural counters of retired
 * instructions); where there is none (Debian's Bochs, QEMU TCG: the kernel
 * registers no x86 PMU, "using software events only") the program prints
 * SKIP and exits 77, and its row is skipped with that line as the reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../test_util.h"

#define N		50000000UL
#define SKIP_STATUS	77

enum { T, G, H, NCOUNTERS };	/* read in this order before the loop, in reverse after */
static const char *const names[NCOUNTERS] = { "all", "guest-only", "host-only" };

static int open_counter(bool exclude_host, bool exclude_guest)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_host = exclude_host;
	a.exclude_guest = exclude_guest;
	a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t count(int fd)
{
	uint64_t v[3] = { 0 };	/* value, time enabled, time running */

	TEST_ASSERT(read(fd, v, sizeof(v)) == sizeof(v));
	TEST_ASSERT(v[1] == v[2]);	/* counted all the time: not multiplexed */
	return v[0];
}

/* The loop of N iterations between two reads of the counters: what each counted meanwhile. */
static void measure(const int *fd, uint64_t *d, const char *phase)
{
	uint64_t c0[NCOUNTERS], c1[NCOUNTERS];
	unsigned long i;
	int k;

	for (k = 0; k < NCOUNTERS; k++)
		c0[k] = count(fd[k]);
	for (i = 0; i < N; i++)
		__asm__ volatile("" ::: "memory");
	for (k = NCOUNTERS - 1; k >= 0; k--)	/* T's interval spans the other two */
		c1[k] = count(fd[k]);
	printf("%s loop:", phase);
	for (k = 0; k < NCOUNTERS; k++) {
		d[k] = c1[k] - c0[k];
		printf(" %s +%llu", names[k], (unsigned long long)d[k]);
	}
	printf(" instructions (N = %lu)\n", N);
}

static bool sum_matches(const uint64_t *d)
{
	uint64_t sum = d[G] + d[H];

	return (sum > d[T] ? sum - d[T] : d[T] - sum) < N / 100;
}

int main(void)
{
	uint64_t d[NCOUNTERS];
	int fd[NCOUNTERS], k;

	test_name = "perfswitch";
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd[G] = open_counter(true, false);
	fd[H] = fd[G] >= 0 ? open_counter(false, true) : -1;
	fd[T] = fd[H] >= 0 ? open_counter(false, false) : -1;
	if (fd[T] < 0) {
		int e = errno;

		if (e == ENOENT || e == ENODEV || e == EOPNOTSUPP) {
			printf("SKIP perfswitch: no hardware PMU counter with guest/host exclusion here "
			       "(perf_event_open: %s)\n", strerror(e));
			return SKIP_STATUS;
		}
		printf("FAIL perfswitch: perf_event_open: %s\n", strerror(e));
		return 1;
	}
	for (k = 0; k < NCOUNTERS; k++)
		TEST_ASSERT(ioctl(fd[k], PERF_EVENT_IOC_ENABLE, 0) == 0);

	measure(fd, d, "host");
	TEST_ASSERT(d[H] >= N);
	TEST_ASSERT(d[G] < N / 100);
	TEST_ASSERT(sum_matches(d));

	test_enter("perfswitch");
	measure(fd, d, "Dune");
	TEST_ASSERT(d[G] >= N);
	TEST_ASSERT(sum_matches(d));
	test_pass();
	return 0;
}
