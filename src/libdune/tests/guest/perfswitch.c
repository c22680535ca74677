/*
 * perfswitch: the host's perf counters are switched around the guest as
 * kvm_intel does (perf_guest_get_msrs() into the VM-entry/exit MSR-load
 * lists, src/kmod/host_state.c): a counter that excludes the guest stops
 * while this thread runs in VMX non-root mode, and one that excludes the
 * host counts only there.
 *
 * Two hardware counters of retired instructions on this thread, rings 0 and
 * 3 both (the Dune guest runs at CPL0): G with exclude_host (guest only) and
 * H with exclude_guest (host only).  The same loop of N iterations (at least
 * N instructions) runs first on the host, then in Dune mode:
 *   host loop:  H grows by >= N, G by < N/100;
 *   Dune loop:  G grows by >= N, H by < N/10 (only the exits' host work).
 * Without the switch G never counts (perf keeps it off in the host's
 * GLOBAL_CTRL, and nothing turns it on at VM entry) and H counts the
 * guest's loop as well: both checks fail.
 *
 * Needs a hardware PMU in the machine that runs dune.ko.  Bochs has none
 * (the kernel registers no x86 PMU: "using software events only"), so there
 * the program prints SKIP and exits 77, and its row is skipped with that
 * line as the reason.  Runs where a PMU is: qemu-kvm with a vPMU on an Intel
 * host (the dunelab-kvm nightly runner), bare metal.
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

static int open_counter(bool guest_only)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	if (guest_only)
		a.exclude_host = 1;
	else
		a.exclude_guest = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t count(int fd)
{
	uint64_t v = 0;

	TEST_ASSERT(read(fd, &v, sizeof(v)) == sizeof(v));
	return v;
}

/* The loop of N iterations between two reads of both counters: what each counted meanwhile. */
static void measure(int g, int h, uint64_t *dg, uint64_t *dh)
{
	uint64_t g0 = count(g), h0 = count(h);
	unsigned long i;

	for (i = 0; i < N; i++)
		__asm__ volatile("" ::: "memory");
	*dg = count(g) - g0;
	*dh = count(h) - h0;
}

int main(void)
{
	uint64_t dg, dh;
	int g, h;

	test_name = "perfswitch";
	setvbuf(stdout, NULL, _IOLBF, 0);
	g = open_counter(true);
	h = g >= 0 ? open_counter(false) : -1;
	if (g < 0 || h < 0) {
		int e = errno;

		if (e == ENOENT || e == ENODEV || e == EOPNOTSUPP) {
			printf("SKIP perfswitch: no hardware PMU counter with guest/host exclusion here "
			       "(perf_event_open: %s)\n", strerror(e));
			return SKIP_STATUS;
		}
		printf("FAIL perfswitch: perf_event_open: %s\n", strerror(e));
		return 1;
	}
	TEST_ASSERT(ioctl(g, PERF_EVENT_IOC_ENABLE, 0) == 0);
	TEST_ASSERT(ioctl(h, PERF_EVENT_IOC_ENABLE, 0) == 0);

	measure(g, h, &dg, &dh);
	printf("host loop: guest-only +%llu, host-only +%llu instructions (N = %lu)\n",
	       (unsigned long long)dg, (unsigned long long)dh, N);
	TEST_ASSERT(dh >= N);
	TEST_ASSERT(dg < N / 100);

	test_enter("perfswitch");
	measure(g, h, &dg, &dh);
	printf("Dune loop: guest-only +%llu, host-only +%llu instructions\n",
	       (unsigned long long)dg, (unsigned long long)dh);
	TEST_ASSERT(dg >= N);
	TEST_ASSERT(dh < N / 10);
	test_pass();
	return 0;
}
