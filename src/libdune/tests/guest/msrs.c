/* msrs: the guest never sees the host kernel's syscall MSRs (LSTAR would reveal
 * entry_SYSCALL_64 and defeat KASLR).  In Dune mode, reads (which dune.ko lets
 * through to the CPU) of STAR/LSTAR/CSTAR/SFMASK/KERNEL_GS_BASE give libdune's
 * values or the architectural reset value 0, never a kernel address; a value the
 * guest writes survives syscalls (which return to the host, whose own values must
 * be back for its own syscalls) and migration to another CPU. */
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "../test_util.h"


static int kernel_half(uint64_t v)
{
	return v >= 0xffff800000000000ULL;
}

static void check(const char *when, uint64_t cstar)
{
	uint64_t star = rdmsr(MSR_STAR), lstar = rdmsr(MSR_LSTAR), sfmask = rdmsr(MSR_SFMASK);
	uint64_t c = rdmsr(MSR_CSTAR), kgs = rdmsr(MSR_KERNEL_GS_BASE);

	printf("msrs %s: STAR %#llx LSTAR %#llx CSTAR %#llx SFMASK %#llx KERNEL_GS_BASE %#llx\n", when,
	       (unsigned long long)star, (unsigned long long)lstar, (unsigned long long)c,
	       (unsigned long long)sfmask, (unsigned long long)kgs);
	TEST_ASSERT(!kernel_half(lstar) && lstar != 0);	/* libdune's dune_syscall_entry */
	TEST_ASSERT(!kernel_half(c));
	TEST_ASSERT(!kernel_half(kgs));
	TEST_ASSERT(star == ((uint64_t)((GD_UT32 | 3) << 16 | GD_KT) << 32));
	TEST_ASSERT(sfmask == 0x44500);			/* TF DF NT AC, not IF */
	TEST_ASSERT(c == cstar);
}

static void migrate(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu(), n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	CPU_SET((cpu + 1) % n, &set);
	TEST_ASSERT(sched_setaffinity(0, sizeof(set), &set) == 0);
	TEST_ASSERT(n == 1 || sched_getcpu() == (cpu + 1) % n);
}

int main(void)
{
	int i;

	test_enter("msrs");
	check("at entry", 0);				/* never written: the reset value */
	wrmsr(MSR_CSTAR, 0x12345000);
	check("after wrmsr CSTAR", 0x12345000);
	for (i = 0; i < 100; i++)
		TEST_ASSERT(syscall(SYS_getppid) == getppid());
	check("after syscalls", 0x12345000);
	migrate();
	check("after migrating", 0x12345000);
	migrate();
	check("after migrating back", 0x12345000);
	test_pass();
	return 0;
}
