/* getpid_rt: the cost of one Dune system call round trip.
 *
 * Times N raw getpid syscalls (argv[1], default 2000) first natively, then in
 * Dune mode, and prints
 *   ROUNDTRIP n=<N> native_ns=<ns per call> dune_ns=<ns per call>
 * (CLOCK_MONOTONIC of whatever machine runs it: under Bochs these are
 * emulated nanoseconds, not hardware time).  The lab's round-trip test runs it
 * with N and with 0 under kernel tracing and divides the difference in VM
 * exits and MSR writes by N.  Every result is checked against the host's pid.
 */
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "../test_util.h"

static inline long raw_getpid(void)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_getpid) : "rcx", "r11", "memory");
	return ret;
}

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* ns per call over n calls, every result checked */
static long loop(long n, long pid)
{
	long i, t0 = now_ns();

	for (i = 0; i < n; i++)
		TEST_ASSERT(raw_getpid() == pid);
	return n ? (now_ns() - t0) / n : 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	long pid = getpid(), native, dune;

	test_name = "getpid_rt";
	native = loop(n, pid);
	test_enter("getpid_rt");
	dune = loop(n, pid);
	printf("ROUNDTRIP n=%ld native_ns=%ld dune_ns=%ld\n", n, native, dune);
	test_pass();
	return 0;
}
