/* msrs: the guest never sees the host kernel's syscall MSRs (LSTAR would reveal
 * entry_SYSCALL_64 and defeat KASLR).
 *  1. A raw vCPU (no libdune boot code, which sets its own LSTAR at once) reads
 *     STAR/LSTAR/CSTAR/SFMASK/KERNEL_GS_BASE as its very first instructions
 *     (dune.ko lets these reads through to the CPU) and exits: the values are
 *     the architectural reset values (0) or the thread's own, never the host's.
 *  2. In Dune mode with libdune, reads give libdune's values; a value the guest
 *     writes survives syscalls (which return to the host, whose own values must be
 *     back for its own syscalls) and migration to another CPU. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include "../test_util.h"

/* Guest code: rbx = LSTAR, rsi = CSTAR, r12 = STAR, r13 = SFMASK, r14 = KERNEL_GS_BASE; exit_group. */
extern char msr_probe[];
__asm__(".text\n"
	"msr_probe:\n"
	"	movl $0xc0000082, %ecx; rdmsr; shlq $32, %rdx; orq %rdx, %rax; movq %rax, %rbx\n"
	"	movl $0xc0000083, %ecx; rdmsr; shlq $32, %rdx; orq %rdx, %rax; movq %rax, %rsi\n"
	"	movl $0xc0000081, %ecx; rdmsr; shlq $32, %rdx; orq %rdx, %rax; movq %rax, %r12\n"
	"	movl $0xc0000084, %ecx; rdmsr; shlq $32, %rdx; orq %rdx, %rax; movq %rax, %r13\n"
	"	movl $0xc0000102, %ecx; rdmsr; shlq $32, %rdx; orq %rdx, %rax; movq %rax, %r14\n"
	"	movl $231, %eax; xorl %edi, %edi; vmcall\n"
	"	ud2\n");

static int kernel_half(uint64_t v);

static void raw_probe(void)
{
	struct dune_config c;
	uint64_t stack[64];
	int fd = open("/dev/dune", O_RDWR);

	TEST_ASSERT(dune_init(true) == 0);
	TEST_ASSERT(fd >= 0);
	memset(&c, 0, sizeof(c));
	c.rip = (uintptr_t)msr_probe;
	c.rsp = (uintptr_t)&stack[63];
	c.rflags = 0x2;
	c.cr3 = dune_pgroot_pa();
	TEST_ASSERT(ioctl(fd, DUNE_ENTER, &c) == 0);
	printf("msrs first read by a raw vCPU: LSTAR %#llx CSTAR %#llx STAR %#llx SFMASK %#llx KERNEL_GS_BASE %#llx (ret %lld)\n",
	       (unsigned long long)c.rbx, (unsigned long long)c.rsi, (unsigned long long)c.r12,
	       (unsigned long long)c.r13, (unsigned long long)c.r14, (long long)c.ret);
	TEST_ASSERT(c.ret == DUNE_RET_EXIT);
	TEST_ASSERT(!kernel_half(c.rbx) && !kernel_half(c.rsi) && !kernel_half(c.r14));
	TEST_ASSERT(c.rbx == 0 && c.rsi == 0 && c.r12 == 0 && c.r13 == 0);
	close(fd);
}


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

	test_name = "msrs";
	raw_probe();
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
