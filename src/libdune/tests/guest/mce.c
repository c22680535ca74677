/*
 * mce: a machine check that arrives while a Dune thread runs in the guest
 * makes a VM exit (#MC is always in dune.ko's exception bitmap) and dune.ko
 * hands it to the kernel's do_machine_check() as kvm_intel does: with
 * registers that say "interrupted user mode", because the guest is not the
 * kernel.  Re-raising it with `int $18` would run the handler in kernel
 * context instead.
 *
 * The error is one the kernel must act on: an action-required data-load
 * error (SRAR: UC|EN|S|AR, ADDRV|MISCV, MCACOD 0x134) at the physical
 * address of one of the Dune process's own pages, MCG_STATUS RIPV|EIPV|MCIP,
 * signalled to every CPU as on a CPU without local machine checks.
 * dunelab's Bochs raises it through its machine-check injection port
 * (0x8a20/0x8a24, bochs-patches/0003) on CPU 1, at the first instruction
 * that CPU runs in VMX non-root mode.
 *
 * What the kernel then does, as under kvm_intel on hardware: it grades the
 * error "Action required: data load error in a user process", poisons the
 * page (memory_failure(), which also takes it out of the process and so out
 * of dune.ko's EPT) and kills the process with SIGBUS, and goes on.  Given
 * the same error with `int $18`, it grades it "Data load in unrecoverable
 * area of kernel" and panics.
 *
 * Checked: the Dune process (a child) ends by SIGBUS; the port counted one
 * injected machine check; the kernel log after the injection has
 * "Uncorrected hardware memory error in user-access at <the address>" and a
 * "Memory failure: <the pfn>" line, and no panic, oops, BUG or WARNING.
 * One page of the lab's memory stays poisoned, as on hardware.
 *
 * Needs root (iopl for the port, PFNs from /proc/self/pagemap) and two
 * CPUs.  Without the port (not dunelab's Bochs: QEMU, hardware) it prints
 * SKIP and exits 77.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../test_util.h"

#define SKIP_STATUS	77
#define DUNE_CPU	1
#define HOST_CPU	0

/* dunelab's Bochs machine-check injection port (cpu/msr.cc in its patch 0003) */
#define PORT_INDEX	0x8a20
#define PORT_DATA	0x8a24
#define PORT_SIGNATURE	0x434d4c44	/* "DLMC" */
enum { F_CPU, F_BANK, F_STATUS_LO, F_STATUS_HI, F_ADDR_LO, F_ADDR_HI, F_MISC_LO, F_MISC_HI,
       F_MCG_STATUS, F_FLAGS, F_ARM_OR_INJECTED };
#define FLAG_BROADCAST	1
#define FLAG_IN_GUEST	2

/* MCi_STATUS and MCG_STATUS bits (Intel SDM vol. 3, ch. 16) */
#define MCI_VAL		(1ULL << 63)
#define MCI_UC		(1ULL << 61)
#define MCI_EN		(1ULL << 60)
#define MCI_MISCV	(1ULL << 59)
#define MCI_ADDRV	(1ULL << 58)
#define MCI_S		(1ULL << 56)
#define MCI_AR		(1ULL << 55)
#define MCACOD_DATA	0x134		/* data load */
#define MCG_RIPV	1
#define MCG_EIPV	2
#define MCG_MCIP	4
#define MISC_PHYS_PAGE	((2 << 6) | 12)	/* address mode physical, valid from bit 12 */

#define BANK		1
#define WAIT_SECONDS	120

static void field(unsigned idx, uint32_t v)
{
	outl(idx, PORT_INDEX);
	outl(v, PORT_DATA);
}

static uint32_t injected(void)
{
	outl(F_ARM_OR_INJECTED, PORT_INDEX);
	return inl(PORT_DATA);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	TEST_ASSERT(sched_setaffinity(0, sizeof(set), &set) == 0);
}

struct victim {
	uint64_t vaddr, paddr;
};

/* The child: a page of its own, its physical address to the parent, then Dune, reading the page. */
static void dune_child(int wfd)
{
	struct rlimit no_core = { 0, 0 };
	struct victim v;
	volatile uint64_t *page;
	uint64_t entry, sum = 0;
	int fd;

	pin(DUNE_CPU);
	TEST_ASSERT(setrlimit(RLIMIT_CORE, &no_core) == 0);
	page = mmap(NULL, PGSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(page != MAP_FAILED);
	memset((void *)page, 0x5a, PGSIZE);
	fd = open("/proc/self/pagemap", O_RDONLY);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)page / PGSIZE * 8)) == 8);
	close(fd);
	TEST_ASSERT(entry & (1ULL << 63));			/* present */
	TEST_ASSERT((entry & ((1ULL << 55) - 1)) != 0);		/* a PFN: root sees them */
	v.vaddr = (uintptr_t)page;
	v.paddr = (entry & ((1ULL << 55) - 1)) * PGSIZE + 0x40;

	test_enter("mce");
	TEST_ASSERT(sched_getcpu() == DUNE_CPU);
	TEST_ASSERT(write(wfd, &v, sizeof(v)) == sizeof(v));	/* from the guest: now spinning */
	for (;;) {
		sum += page[8];
		__asm__ volatile("" : "+r"(sum));
	}
}

/* /dev/kmsg records since `fd` was opened: the lines the kernel must and must not print. */
static int scan_log(int fd, const char *want1, const char *want2, int *bad, char *first_bad,
		    size_t len)
{
	char rec[8192];
	int found = 0;

	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *text;

		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		printf("mce: kernel: %s", text);
		if (strstr(text, want1))
			found |= 1;
		if (strstr(text, want2))
			found |= 2;
		if (strstr(text, "panic") || strstr(text, "Fatal") || strstr(text, "WARNING:") ||
		    strstr(text, "BUG:") || strstr(text, "Oops") || strstr(text, "Call Trace")) {
			if (!(*bad)++)
				snprintf(first_bad, len, "%.200s", text);
		}
	}
	return found;
}

int main(void)
{
	char want_addr[96], want_pfn[64], first_bad[256] = "";
	uint64_t status = MCI_VAL | MCI_UC | MCI_EN | MCI_MISCV | MCI_ADDRV | MCI_S | MCI_AR |
			  MCACOD_DATA;
	uint32_t before, after;
	struct victim v;
	int p[2], kmsg, wstatus = 0, found, bad = 0;
	pid_t child;
	time_t t0;

	test_name = "mce";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("SKIP mce: needs two CPUs\n");
		return SKIP_STATUS;
	}
	if (iopl(3) != 0) {
		printf("SKIP mce: iopl: %s (needs root)\n", strerror(errno));
		return SKIP_STATUS;
	}
	if (inl(PORT_INDEX) != PORT_SIGNATURE) {
		printf("SKIP mce: no machine-check injection port (dunelab's Bochs has one)\n");
		return SKIP_STATUS;
	}
	pin(HOST_CPU);
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	TEST_ASSERT(kmsg >= 0);
	TEST_ASSERT(lseek(kmsg, 0, SEEK_END) >= 0);
	TEST_ASSERT(pipe(p) == 0);

	child = fork();
	TEST_ASSERT(child >= 0);
	if (child == 0) {
		close(p[0]);
		dune_child(p[1]);
	}
	close(p[1]);
	if (read(p[0], &v, sizeof(v)) != sizeof(v)) {
		TEST_ASSERT(waitpid(child, &wstatus, 0) == child);
		printf("FAIL mce: the Dune child ended before it ran (wait status %#x)\n", wstatus);
		return 1;
	}
	printf("mce: Dune child %d reads %#llx (physical %#llx) on CPU %d\n", (int)child,
	       (unsigned long long)v.vaddr, (unsigned long long)v.paddr, DUNE_CPU);

	before = injected();
	field(F_CPU, DUNE_CPU);
	field(F_BANK, BANK);
	field(F_STATUS_LO, (uint32_t)status);
	field(F_STATUS_HI, (uint32_t)(status >> 32));
	field(F_ADDR_LO, (uint32_t)v.paddr);
	field(F_ADDR_HI, (uint32_t)(v.paddr >> 32));
	field(F_MISC_LO, MISC_PHYS_PAGE);
	field(F_MISC_HI, 0);
	field(F_MCG_STATUS, MCG_RIPV | MCG_EIPV | MCG_MCIP);
	field(F_FLAGS, FLAG_BROADCAST | FLAG_IN_GUEST);
	field(F_ARM_OR_INJECTED, 1);				/* arm */

	t0 = time(NULL);
	while (waitpid(child, &wstatus, WNOHANG) == 0) {
		if (time(NULL) - t0 > WAIT_SECONDS) {
			kill(child, SIGKILL);
			waitpid(child, &wstatus, 0);
			printf("FAIL mce: the Dune child still ran %d s after the machine check "
			       "(%u injected)\n", WAIT_SECONDS, injected() - before);
			return 1;
		}
		usleep(20 * 1000);
	}
	after = injected();
	usleep(200 * 1000);		/* memory_failure's last lines */

	/* the kernel drops the address bits below MCi_MISC's LSB (12): the page's address */
	snprintf(want_addr, sizeof(want_addr), "Uncorrected hardware memory error in user-access at %llx",
		 (unsigned long long)(v.paddr & ~(uint64_t)(PGSIZE - 1)));
	snprintf(want_pfn, sizeof(want_pfn), "Memory failure: %#llx:",
		 (unsigned long long)(v.paddr / PGSIZE));
	found = scan_log(kmsg, want_addr, want_pfn, &bad, first_bad, sizeof(first_bad));
	close(kmsg);

	printf("mce: %u machine check injected; child %s %d; user-access line %s, memory-failure "
	       "line %s; %d bad log lines\n", after - before,
	       WIFSIGNALED(wstatus) ? "killed by signal" : "exited with",
	       WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus),
	       found & 1 ? "found" : "missing", found & 2 ? "found" : "missing", bad);
	if (bad)
		printf("mce: first bad line: %s", first_bad);
	TEST_ASSERT(after - before == 1);
	TEST_ASSERT(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGBUS);
	TEST_ASSERT(found == 3);
	TEST_ASSERT(bad == 0);
	test_pass();
	return 0;
}
