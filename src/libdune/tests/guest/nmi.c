/*
 * nmi: an NMI that arrives while a Dune thread runs in the guest makes a VM
 * exit (NMI exiting) and dune.ko hands it to the kernel's own NMI handler, as
 * kvm_intel does - it is neither lost nor given to the guest.
 *
 * The kernel's all-CPU backtrace (sysrq 'l', written to /proc/sysrq-trigger)
 * sends an NMI to every other CPU and waits up to 10 s for each to print
 * "NMI backtrace for cpu N" from its NMI handler.  Here the Dune thread spins
 * in guest mode on CPU 1 (no exits but timer ticks) while a host thread on
 * CPU 0 triggers at least 5 backtraces, more (up to 60) until one NMI has
 * arrived while the guest ran.  Checked:
 *   - every round printed CPU 1's backtrace (an NMI swallowed by the module
 *     would leave it missing after a 10 s wait);
 *   - the vCPU counted NMI exits (DUNE_GET_STATS, basic exit reason 0): the
 *     NMIs did arrive while the guest ran, so the forwarding path was taken;
 *   - the kernel logged no warning, BUG, oops or "NMI received for unknown
 *     reason" meanwhile.
 * The program reads the kernel log itself (/dev/kmsg from before the first
 * trigger): the backtraces are expected "Call Trace"s, so its scenario row
 * does not use the generic kernel-log check.  Needs root and two CPUs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include "../test_util.h"

#define MIN_ROUNDS	5
#define MAX_ROUNDS	60
#define DUNE_CPU	1
#define HOST_CPU	0
#define R_EXCEPTION_NMI	0

static volatile int spinning, done;
static int rounds, backtraces, bad_lines;
static char first_bad[256];

static int pin(pthread_t t, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(t, sizeof(set), &set);
}

static void sysrq(char key)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(write(fd, &key, 1) == 1);
	close(fd);
}

/* One /dev/kmsg record per read: "prio,seq,usec,flags;text\n" (continuation lines follow). */
static void scan_log(int fd)
{
	char rec[8192], want[64];
	ssize_t n;

	snprintf(want, sizeof(want), "NMI backtrace for cpu %d", DUNE_CPU);
	for (;;) {
		char *text;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)		/* overwritten records: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		if (strstr(text, want))
			backtraces++;
		if (strstr(text, "WARNING:") || strstr(text, "BUG:") || strstr(text, "Oops") ||
		    strstr(text, "unknown reason") || strstr(text, "Dazed and confused") ||
		    strstr(text, "LOCKUP")) {
			if (!bad_lines++)
				snprintf(first_bad, sizeof(first_bad), "%.200s", text);
		}
	}
}

static uint64_t nmi_exits_now(void)
{
	static struct dune_stats s;

	TEST_ASSERT(dune_get_stats(&s) == 0);	/* host mode: the file's counters */
	return s.exit_reasons[R_EXCEPTION_NMI];
}

/* At least MIN_ROUNDS backtraces, and more (up to MAX_ROUNDS) until an NMI
 * has hit the vCPU while in the guest: where an NMI lands is up to timing. */
static void *trigger(void *arg)
{
	uint64_t base;
	int fd;

	(void)arg;
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(lseek(fd, 0, SEEK_END) >= 0);
	while (!spinning)
		usleep(1000);
	usleep(100 * 1000);
	base = nmi_exits_now();
	while (rounds < MAX_ROUNDS) {
		sysrq('l');		/* returns once every CPU answered, or after 10 s */
		rounds++;
		usleep(100 * 1000);
		if (rounds >= MIN_ROUNDS && nmi_exits_now() > base)
			break;
	}
	scan_log(fd);
	close(fd);
	done = 1;
	return NULL;
}

int main(void)
{
	struct dune_stats *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	unsigned long long nmi_exits;
	pthread_t t;

	test_name = "nmi";
	TEST_ASSERT(a && b);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("PASS nmi (one CPU: not run)\n");
		return 0;
	}
	/* The trigger thread is created in host mode and never enters Dune. */
	TEST_ASSERT(pthread_create(&t, NULL, trigger, NULL) == 0);
	TEST_ASSERT(pin(t, HOST_CPU) == 0);
	TEST_ASSERT(pin(pthread_self(), DUNE_CPU) == 0);
	test_enter("nmi");
	TEST_ASSERT(sched_getcpu() == DUNE_CPU);

	TEST_ASSERT(dune_get_stats(a) == 0);
	spinning = 1;
	while (!done)
		__builtin_ia32_pause();
	TEST_ASSERT(dune_get_stats(b) == 0);
	TEST_ASSERT(pthread_join(t, NULL) == 0);

	nmi_exits = b->exit_reasons[R_EXCEPTION_NMI] - a->exit_reasons[R_EXCEPTION_NMI];
	printf("nmi: %d rounds, %d backtraces of cpu %d, %llu NMI exits of its vCPU, %d bad log lines\n",
	       rounds, backtraces, DUNE_CPU, nmi_exits, bad_lines);
	if (bad_lines)
		printf("nmi: first bad line: %s", first_bad);
	TEST_ASSERT(bad_lines == 0);
	TEST_ASSERT(backtraces == rounds);
	TEST_ASSERT(nmi_exits >= 1);
	test_pass();
	return 0;
}
