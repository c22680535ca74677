#define _GNU_SOURCE
/* ioctls: /dev/dune rejects malformed requests with the right errno and stays usable.
 *
 * Phase 1 (host mode, a second /dev/dune file): wrong ioctl numbers/sizes, bad
 * pointers (NULL, kernel half, unmapped, read-only), bad rip/rsp/cr3/rflags for a
 * new vCPU, resuming with a foreign or stale vCPU id (also from another thread),
 * DUNE_QUEUE_INTR with bad vectors and pointers, unimplemented commands.
 * Phase 2: the same process then enters Dune normally, repeats a few checks from
 * guest mode (through the host loop) and takes a queued interrupt. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../test_util.h"

#define KERNEL_PTR	((void *)0xffffffff81000000UL)
#define NONCANON	0x0000800000000000ULL
#define KERNEL_VA	0xffffffff81000000ULL
#define TEST_RIP	0x400000ULL	/* inside the (non-PIE) executable */

static int nfail;

static void expect(const char *what, long r, int want_errno)
{
	int e = r < 0 ? errno : 0;

	if (want_errno == 0 ? r == 0 : (r == -1 && e == want_errno))
		return;
	printf("FAIL ioctls: %s: returned %ld errno %d (%s), expected %s%d\n", what, r, e,
	       e ? strerror(e) : "-", want_errno ? "errno " : "", want_errno);
	nfail++;
}

static void good_conf(struct dune_config *c, uint64_t vcpu)
{
	memset(c, 0, sizeof(*c));
	c->rip = TEST_RIP;
	c->rsp = 0x400000ULL;
	c->rflags = 0x2;
	c->cr3 = 0x1000;	/* a GPA of nothing: the first page walk is an EPT violation */
	c->vcpu = vcpu;
}

struct foreign_arg {
	int fd;
	uint64_t vcpu;
	long enter_r, enter_errno, queue_r, queue_errno, resume_r, resume_errno;
};

/* Another thread of the same process tries to drive the main thread's vCPU. */
static void *foreign(void *p)
{
	struct foreign_arg *a = p;
	struct dune_config c;
	__u32 vec = 100;

	good_conf(&c, a->vcpu);
	a->enter_r = ioctl(a->fd, DUNE_ENTER, &c);
	a->enter_errno = errno;
	a->queue_r = ioctl(a->fd, DUNE_QUEUE_INTR, &vec);
	a->queue_errno = errno;
	good_conf(&c, a->vcpu + 1000);
	a->resume_r = ioctl(a->fd, DUNE_ENTER, &c);
	a->resume_errno = errno;
	return NULL;
}

static volatile int got_vec;

static void on_vec(struct dune_tf *tf)
{
	got_vec = (int)tf->trapno;
}

static void host_phase(void)
{
	struct dune_layout l;
	struct dune_config c;
	struct dune_trap_config tc;
	void *unmapped, *ro;
	uint64_t vcpu;
	__u32 vec;
	int fd = open("/dev/dune", O_RDWR | O_CLOEXEC);

	TEST_ASSERT(fd >= 0);
	/* three pages: read-only, hole, read-only (nothing can be mapped into the hole later) */
	ro = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(ro != MAP_FAILED);
	unmapped = (char *)ro + 4096;
	TEST_ASSERT(munmap(unmapped, 4096) == 0);

	/* unknown commands, wrong sizes/directions/type byte */
	expect("unknown nr", ioctl(fd, _IO(DUNE_MINOR, 0x7f), 0), ENOTTY);
	expect("ENTER with 16-byte size", ioctl(fd, _IOR(DUNE_MINOR, 0x01, char[16]), &c), ENOTTY);
	expect("ENTER as _IOW", ioctl(fd, _IOW(DUNE_MINOR, 0x01, struct dune_config), &c), ENOTTY);
	expect("ENTER with another type byte", ioctl(fd, _IOR('x', 0x01, struct dune_config), &c), ENOTTY);
	expect("GET_LAYOUT with 8-byte size", ioctl(fd, _IOW(DUNE_MINOR, 0x03, __u64), &l), ENOTTY);
	expect("QUEUE_INTR with 8-byte size", ioctl(fd, _IOW(DUNE_MINOR, 0x06, __u64), 100), ENOTTY);
	expect("TRAP_DISABLE with a size", ioctl(fd, _IOW(DUNE_MINOR, 0x05, int), 0), ENOTTY);
	expect("terminal ioctl", ioctl(fd, TCGETS, &c), ENOTTY);

	/* bad pointers */
	expect("GET_LAYOUT NULL", ioctl(fd, DUNE_GET_LAYOUT, NULL), EFAULT);
	expect("GET_LAYOUT kernel", ioctl(fd, DUNE_GET_LAYOUT, KERNEL_PTR), EFAULT);
	expect("GET_LAYOUT unmapped", ioctl(fd, DUNE_GET_LAYOUT, unmapped), EFAULT);
	expect("GET_LAYOUT read-only", ioctl(fd, DUNE_GET_LAYOUT, ro), EFAULT);
	expect("GET_LAYOUT ok", ioctl(fd, DUNE_GET_LAYOUT, &l), 0);
	TEST_ASSERT(l.phys_limit && !(l.phys_limit & (l.phys_limit - 1)));
	expect("ENTER NULL", ioctl(fd, DUNE_ENTER, NULL), EFAULT);
	expect("ENTER kernel", ioctl(fd, DUNE_ENTER, KERNEL_PTR), EFAULT);
	expect("ENTER unmapped", ioctl(fd, DUNE_ENTER, unmapped), EFAULT);
	expect("ENTER read-only", ioctl(fd, DUNE_ENTER, ro), EFAULT);	/* all zeros: would be a valid new vCPU */
	expect("TRAP_ENABLE NULL", ioctl(fd, DUNE_TRAP_ENABLE, NULL), EFAULT);
	memset(&tc, 0, sizeof(tc));
	expect("TRAP_ENABLE (not implemented)", ioctl(fd, DUNE_TRAP_ENABLE, &tc), EOPNOTSUPP);
	expect("TRAP_DISABLE (not implemented)", ioctl(fd, DUNE_TRAP_DISABLE, 0), EOPNOTSUPP);
	expect("GET_SYSCALL (not provided)", ioctl(fd, DUNE_GET_SYSCALL, 0), ENOSYS);

	/* bad register state for a new vCPU */
	good_conf(&c, 0); c.rip = NONCANON;
	expect("new vCPU, non-canonical rip", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.rip = KERNEL_VA;
	expect("new vCPU, kernel-half rip", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.rsp = NONCANON + 0x1000;
	expect("new vCPU, non-canonical rsp", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.rsp = KERNEL_VA;
	expect("new vCPU, kernel-half rsp", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.cr3 = l.phys_limit;
	expect("new vCPU, cr3 = phys_limit", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.cr3 = ~0xfffULL;
	expect("new vCPU, cr3 in the kernel half", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.cr3 = 0x1234;
	expect("new vCPU, cr3 not page aligned", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.rflags = 0x2 | (1ULL << 17);
	expect("new vCPU, rflags.VM", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, 0); c.rflags = 0x2 | (1ULL << 40);
	expect("new vCPU, reserved rflags bit", ioctl(fd, DUNE_ENTER, &c), EINVAL);

	/* no vCPU yet on this file for this thread */
	good_conf(&c, 12345);
	expect("resume a vCPU that does not exist", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	vec = 100;
	expect("QUEUE_INTR without a vCPU", ioctl(fd, DUNE_QUEUE_INTR, &vec), ENOENT);

	/* bad vectors / pointers: checked before the vCPU lookup */
	vec = 0;
	expect("QUEUE_INTR vector 0", ioctl(fd, DUNE_QUEUE_INTR, &vec), EINVAL);
	vec = 31;
	expect("QUEUE_INTR vector 31", ioctl(fd, DUNE_QUEUE_INTR, &vec), EINVAL);
	vec = 256;
	expect("QUEUE_INTR vector 256", ioctl(fd, DUNE_QUEUE_INTR, &vec), EINVAL);
	vec = 0xffffffffu;
	expect("QUEUE_INTR vector 2^32-1", ioctl(fd, DUNE_QUEUE_INTR, &vec), EINVAL);
	expect("QUEUE_INTR NULL", ioctl(fd, DUNE_QUEUE_INTR, NULL), EFAULT);
	expect("QUEUE_INTR kernel pointer", ioctl(fd, DUNE_QUEUE_INTR, KERNEL_PTR), EFAULT);
	expect("QUEUE_INTR unmapped", ioctl(fd, DUNE_QUEUE_INTR, unmapped), EFAULT);
	expect("QUEUE_INTR value 5", ioctl(fd, DUNE_QUEUE_INTR, 5UL), EFAULT);

	/* a real vCPU whose guest cannot run: cr3 points at no memory */
	good_conf(&c, 0);
	expect("new vCPU with an empty cr3", ioctl(fd, DUNE_ENTER, &c), 0);
	if (c.ret != DUNE_RET_EPT_VIOLATION)
		printf("ioctls: DUNE_ENTER ret %lld status %#llx\n", (long long)c.ret, (long long)c.status);
	TEST_ASSERT(c.ret == DUNE_RET_EPT_VIOLATION);
	TEST_ASSERT(c.vcpu != 0);
	TEST_ASSERT(c.status == 0x1000);
	vcpu = c.vcpu;

	{
		struct foreign_arg a = { fd, vcpu, 0, 0, 0, 0, 0, 0 };
		pthread_t th;

		TEST_ASSERT(pthread_create(&th, NULL, foreign, &a) == 0);
		TEST_ASSERT(pthread_join(th, NULL) == 0);
		if (a.enter_r != -1 || a.enter_errno != EINVAL) {
			printf("FAIL ioctls: ENTER with another thread's vCPU: %ld errno %ld\n", a.enter_r, a.enter_errno);
			nfail++;
		}
		if (a.queue_r != -1 || a.queue_errno != ENOENT) {
			printf("FAIL ioctls: QUEUE_INTR from a thread without vCPU: %ld errno %ld\n", a.queue_r, a.queue_errno);
			nfail++;
		}
		if (a.resume_r != -1 || a.resume_errno != EINVAL) {
			printf("FAIL ioctls: ENTER with a made-up vCPU id: %ld errno %ld\n", a.resume_r, a.resume_errno);
			nfail++;
		}
	}

	/* resuming our own vCPU with bad state */
	good_conf(&c, vcpu + 1);
	expect("resume with a wrong vCPU id", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, vcpu); c.rip = NONCANON;
	expect("resume, non-canonical rip", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, vcpu); c.rip = KERNEL_VA;
	expect("resume, kernel-half rip", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, vcpu); c.rsp = KERNEL_VA;
	expect("resume, kernel-half rsp", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, vcpu); c.cr3 = l.phys_limit + 0x1000;
	expect("resume, cr3 beyond phys_limit", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	good_conf(&c, vcpu); c.rflags = 0x2 | (1ULL << 17);
	expect("resume, rflags.VM", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	vec = 300;
	expect("QUEUE_INTR vector 300 with a vCPU", ioctl(fd, DUNE_QUEUE_INTR, &vec), EINVAL);
	vec = 100;
	expect("QUEUE_INTR vector 100", ioctl(fd, DUNE_QUEUE_INTR, &vec), 0);
	expect("QUEUE_INTR plain value 101", ioctl(fd, DUNE_QUEUE_INTR, 101UL), 0);
	good_conf(&c, vcpu);
	expect("resume, still no memory at cr3", ioctl(fd, DUNE_ENTER, &c), 0);
	TEST_ASSERT(c.ret == DUNE_RET_EPT_VIOLATION && c.vcpu == vcpu);

	TEST_ASSERT(close(fd) == 0);
	munmap(ro, 3 * 4096);
}

int main(void)
{
	struct dune_config c;
	__u32 vec;
	int fd;

	test_name = "ioctls";
	setvbuf(stdout, NULL, _IOLBF, 0);
	host_phase();

	/* The process is fine: it can still enter Dune and work there. */
	test_enter("ioctls");
	TEST_ASSERT(getpid() > 0);
	fd = open("/dev/dune", O_RDWR | O_CLOEXEC);	/* done by the host loop for us */
	TEST_ASSERT(fd >= 0);
	vec = 7;
	expect("guest: QUEUE_INTR vector 7", ioctl(fd, DUNE_QUEUE_INTR, &vec), EINVAL);
	expect("guest: QUEUE_INTR NULL", ioctl(fd, DUNE_QUEUE_INTR, NULL), EFAULT);
	good_conf(&c, 999999);
	expect("guest: ENTER with a foreign vCPU id", ioctl(fd, DUNE_ENTER, &c), EINVAL);
	expect("guest: ENTER kernel pointer", ioctl(fd, DUNE_ENTER, KERNEL_PTR), EFAULT);
	expect("guest: unknown nr", ioctl(fd, _IO(DUNE_MINOR, 0x42), 0), ENOTTY);
	TEST_ASSERT(close(fd) == 0);

	/* and interrupts still reach it */
	TEST_ASSERT(dune_register_intr_handler(150, on_vec) == 0);
	__asm__ volatile("int $150");
	TEST_ASSERT(got_vec == 150);
	TEST_ASSERT(dune_in_guest());
	if (nfail) {
		printf("FAIL ioctls: %d case(s) wrong\n", nfail);
		return 1;
	}
	test_pass();
	return 0;
}
