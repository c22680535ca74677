/* kvm_coexist: dune.ko and kvm_intel take turns with VMX, and each refuses
 * cleanly while the other holds it.  Needs /dev/kvm (kvm_intel loaded);
 * without it there is nothing to test ("PASS kvm_coexist (no /dev/kvm: not run)").
 *
 *  1. A thread enters Dune and waits there: KVM_CREATE_VM fails with EBUSY.
 *  2. The thread exits: its vCPU goes with it, VMX is off again (no other
 *     vCPU exists), and KVM_CREATE_VM succeeds.
 *  3. While that KVM VM exists, dune_enter() in a new thread fails with
 *     -EBUSY and the thread goes on in host mode.
 *  4. The VM closed, a thread enters Dune again.
 * "kvm_coexist create": only try KVM_CREATE_VM, print "KVM OK" or "KVM <errno>". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "../test_util.h"

#define KVM_CREATE_VM 0xae01

static int kvm_fd, go[2];

static int create_vm(void)
{
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);

	return vm >= 0 ? vm : -errno;
}

static void *in_dune_and_wait(void *arg)
{
	char c;

	TEST_ASSERT(dune_enter() == 0 && dune_in_guest());
	*(volatile int *)arg = 1;
	TEST_ASSERT(read(go[0], &c, 1) == 1);	/* a syscall from Dune: blocks on the host */
	return NULL;
}

static void *try_enter(void *arg)
{
	*(int *)arg = dune_enter();
	if (*(int *)arg == 0)
		TEST_ASSERT(dune_in_guest() && syscall(SYS_gettid) > 0);
	return NULL;
}

int main(int argc, char **argv)
{
	volatile int entered = 0;
	pthread_t t;
	int vm = -1, r, i;

	test_name = "kvm_coexist";
	setvbuf(stdout, NULL, _IOLBF, 0);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (argc > 1 && !strcmp(argv[1], "create")) {
		r = kvm_fd < 0 ? -errno : create_vm();
		printf("KVM %s\n", r >= 0 ? "OK" : strerrorname_np(-r));
		return r < 0;
	}
	if (kvm_fd < 0) {
		printf("PASS kvm_coexist (no /dev/kvm: not run)\n");
		return 0;
	}
	TEST_ASSERT(dune_init(true) == 0 && pipe(go) == 0);

	/* 1 */
	TEST_ASSERT(pthread_create(&t, NULL, in_dune_and_wait, (void *)&entered) == 0);
	while (!entered)
		usleep(1000);
	r = create_vm();
	printf("kvm_coexist: KVM_CREATE_VM with a Dune vCPU alive: %d\n", r);
	TEST_ASSERT(r == -EBUSY);

	/* 2: the vCPU is destroyed asynchronously right after the thread exits */
	TEST_ASSERT(write(go[1], "x", 1) == 1);
	TEST_ASSERT(pthread_join(t, NULL) == 0);
	for (i = 0; i < 200 && (vm = create_vm()) == -EBUSY; i++)
		usleep(10000);
	printf("kvm_coexist: KVM_CREATE_VM after the Dune thread exited: %d (after %d retries)\n",
	       vm < 0 ? vm : 0, i);
	TEST_ASSERT(vm >= 0);

	/* 3 */
	TEST_ASSERT(pthread_create(&t, NULL, try_enter, &r) == 0 && pthread_join(t, NULL) == 0);
	printf("kvm_coexist: dune_enter() while a KVM VM exists: %d\n", r);
	TEST_ASSERT(r == -EBUSY);

	/* 4 */
	close(vm);
	TEST_ASSERT(pthread_create(&t, NULL, try_enter, &r) == 0 && pthread_join(t, NULL) == 0);
	printf("kvm_coexist: dune_enter() after the VM was closed: %d\n", r);
	TEST_ASSERT(r == 0);
	test_pass();
	return 0;
}
