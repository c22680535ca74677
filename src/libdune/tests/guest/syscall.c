/* syscall: syscall storm with real effects: getpid, write, files, mmap/munmap/mprotect, brk. */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../test_util.h"

static int pte_present(void *va)
{
	ptent_t *pte;

	if (dune_vm_lookup(pgroot, va, 0, &pte))
		return 0;
	return (*pte & PTE_P) != 0;
}

int main(void)
{
	pid_t host_pid = getpid();
	char path[] = "/tmp/dune-syscall-XXXXXX", buf[64];
	const char msg[] = "dune syscall test data\n";
	int i, fd;

	test_enter("syscall");

	for (i = 0; i < 10000; i++)
		TEST_ASSERT(getpid() == host_pid);
	TEST_ASSERT(write(1, "write() from Dune mode\n", 23) == 23);

	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(write(fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg));
	TEST_ASSERT(close(fd) == 0);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0);
	memset(buf, 0, sizeof(buf));
	TEST_ASSERT(read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(msg));
	TEST_ASSERT(memcmp(buf, msg, sizeof(msg)) == 0);
	close(fd);
	TEST_ASSERT(unlink(path) == 0);
	TEST_ASSERT(open(path, O_RDONLY) < 0);

	for (i = 0; i < 300; i++) {
		size_t len = (i % 30 == 0) ? (4UL << 20) : (size_t)(i % 17 + 1) * 4096;
		unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		size_t off;

		TEST_ASSERT(p != MAP_FAILED);
		for (off = 0; off < len; off += 4096)
			p[off] = (unsigned char)(off >> 12) ^ (unsigned char)i;
		for (off = 0; off < len; off += 4096)
			TEST_ASSERT(p[off] == ((unsigned char)(off >> 12) ^ (unsigned char)i));
		if (i % 10 == 0) {
			TEST_ASSERT(mprotect(p, 4096, PROT_READ) == 0);
			TEST_ASSERT(p[0] == (unsigned char)i);
			TEST_ASSERT(mprotect(p, 4096, PROT_READ | PROT_WRITE) == 0);
			p[0] = 1;
		}
		TEST_ASSERT(munmap(p, len) == 0);
		TEST_ASSERT(!pte_present(p));
	}

	/* brk growth through malloc (small chunks come from the heap) */
	{
		void *ptrs[2000];

		for (i = 0; i < 2000; i++) {
			ptrs[i] = malloc(1000);
			TEST_ASSERT(ptrs[i]);
			memset(ptrs[i], i & 0xff, 1000);
		}
		for (i = 0; i < 2000; i++) {
			TEST_ASSERT(((unsigned char *)ptrs[i])[999] == (i & 0xff));
			free(ptrs[i]);
		}
	}
	test_pass();
	return 0;
}
