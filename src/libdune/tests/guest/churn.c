/* churn: kernel memory stays flat while a Dune process maps, touches and unmaps
 * memory all over its guest-physical space and creates and ends Dune threads.
 *
 * Each round maps 2 MiB at a new 1 GiB-aligned address (so the EPT needs new
 * table pages every time), touches it from Dune mode, unmaps it; every 16th round
 * a pthread enters Dune (its own vCPU), makes a syscall and exits.  The cgroup's
 * kernel memory ("kernel" in memory.stat: slab, page tables, EPT tables, VMCSs,
 * all charged to the process) is read after a warm-up and at the end: it must
 * not grow by more than GROWTH_MAX, where an EPT that kept its tables would grow
 * by two pages per round and leaked vCPUs by a VMCS page each.
 * argv[1]: rounds (default 768).  Without a cgroup v2 memory.stat it churns without measuring
 * (64 rounds unless argv[1] says otherwise). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../test_util.h"

#define GIB		(1ULL << 30)
#define TWO_MIB		(2ULL << 20)
#define GROWTH_MAX	(1536LL << 10)

static char stat_path[600];

/* "kernel" of this process's cgroup (v2), in bytes; -1 if there is none. */
static long long cgroup_kernel(void)
{
	char buf[8192], *p;
	long long v = -1;
	int fd = open(stat_path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, "kernel ", 7))
			v = atoll(p + 7);
	return v;
}

/* This process's cgroup v2 memory.stat, or false if there is none. */
static bool find_cgroup(void)
{
	char buf[4096], *line, *nl;
	int fd = open("/proc/self/cgroup", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (line = buf; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (!strncmp(line, "0::", 3)) {
			if (!strcmp(line + 3, "/"))
				return false;	/* the root's stats are the whole machine's */
			snprintf(stat_path, sizeof(stat_path), "/sys/fs/cgroup%s/memory.stat", line + 3);
			return access(stat_path, R_OK) == 0;
		}
	}
	return false;
}

static void *thread_main(void *arg)
{
	TEST_ASSERT(dune_in_guest());
	TEST_ASSERT(syscall(SYS_gettid) > 0);
	return arg;
}

static void settle(void)
{
	/* exited threads' vCPUs go on a workqueue, RCU frees later, memcg stats
	 * are flushed every 2 s: let all of it happen */
	sleep(3);
}

static void round_at(uint64_t addr, int i)
{
	volatile char *p = mmap((void *)addr, TWO_MIB, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	TEST_ASSERT(p == (void *)addr);
	madvise((void *)p, TWO_MIB, MADV_NOHUGEPAGE);	/* 4 KiB: tables at every level */
	p[0] = (char)i;
	p[TWO_MIB - 1] = (char)i;
	TEST_ASSERT(p[0] == (char)i);
	TEST_ASSERT(munmap((void *)p, TWO_MIB) == 0);
	if (i % 16 == 0) {
		pthread_t t;
		void *ret;

		TEST_ASSERT(pthread_create(&t, NULL, thread_main, (void *)(long)i) == 0);
		TEST_ASSERT(pthread_join(t, &ret) == 0 && ret == (void *)(long)i);
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 768, warm = 64, i, n = 0;
	uint64_t addrs[1024], a;
	long long before = 0, after = 0;
	bool measured;

	test_enter("churn");
	measured = find_cgroup();
	if (!measured && argc < 2)
		rounds = 64;	/* nothing to measure: a short churn */
	if (rounds > 1024)
		rounds = 1024;
	/* 1 GiB steps from 4 GiB on, where guest-physical == host-virtual */
	for (a = 4 * GIB; n < rounds + warm && n < 1024; a += GIB)
		if (dune_va_to_pa((void *)a) == a && dune_va_to_pa((void *)(a + TWO_MIB - 1)) == a + TWO_MIB - 1)
			addrs[n++] = a;
		else
			break;
	TEST_ASSERT(n > warm);
	if (rounds > n - warm)
		rounds = n - warm;

	for (i = 0; i < warm; i++)
		round_at(addrs[i], i);
	if (measured) {
		settle();
		before = cgroup_kernel();
	}
	for (i = 0; i < rounds; i++)
		round_at(addrs[warm + i], i);
	if (!measured) {
		printf("churn: %d rounds, %d threads; no cgroup v2 memory.stat: kernel memory not measured\n",
		       rounds, (rounds + 15) / 16);
		test_pass();
		return 0;
	}
	settle();
	after = cgroup_kernel();
	printf("churn: %d rounds, %d threads; cgroup kernel memory %lld -> %lld bytes (%+lld; %s)\n",
	       rounds, (rounds + 15) / 16, before, after, after - before, stat_path);
	TEST_ASSERT(before > 0 && after > 0);
	TEST_ASSERT(after - before < GROWTH_MAX);
	test_pass();
	return 0;
}
