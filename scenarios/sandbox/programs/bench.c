/*
 * bench: small workloads whose cost under the sandbox shows where its overhead comes from.  Each
 * prints one deterministic line (a checksum), so runs natively and sandboxed compare byte for byte;
 * the driver times them from outside, and if SBX_TIME_FILE is set the workload's own time (start-up
 * excluded) is written there.
 *   compute N    integer and floating-point work, no system calls (ring 3 at full speed)
 *   tlb MB N     N dependent loads at random over MB MiB (TLB misses: the cost of EPT, mcf's case)
 *   syscalls N   N getppid() calls (each one a trip through the monitor and a VMCALL)
 *   files N      N x open, fstat, read, close of a file (path checks)
 *   mmap N       N x mmap 1 MiB, touch 16 pages, munmap (the arena bookkeeping)
 *   nop          nothing (the sandbox's start-up cost)
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/time.h>
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static uint64_t compute(long n)
{
	uint64_t h = FNV_INIT, x = 88172645463325252ULL;
	double f = 0;
	long i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f += sqrt((double)(x & 0xffff)) / (1.0 + (double)(i & 7));
		if ((i & 1023) == 0)
			h = fnv1a(h, &x, sizeof(x));
	}
	return h ^ (uint64_t)f;
}

static uint64_t t0;	/* where the workload's own time starts (after set-up that is not the point) */

static uint64_t tlb(long mb, long n)
{
	size_t count = (size_t)mb << 20 >> 3, i, j;
	uint64_t *a = malloc(count * 8), x = 2463534242ULL, p = 0;
	long k;

	if (!a)
		return 0;
	for (i = 0; i < count; i++)
		a[i] = i;
	t0 = now_ns();	/* every page touched once: what follows is TLB misses, not first-touch faults */
	/* Sattolo: a single random cycle through the array, stride > a page */
	for (i = count - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % i;
		k = (long)a[i];
		a[i] = a[j];
		a[j] = (uint64_t)k;
	}
	for (k = 0; k < n; k++)
		p = a[p];
	free(a);
	return p;
}

static uint64_t syscalls(long n)
{
	uint64_t h = 0;
	long i;

	for (i = 0; i < n; i++)
		h += (uint64_t)getppid() > 0;
	return h;
}

static uint64_t files(long n, const char *path)
{
	uint64_t h = FNV_INIT;
	char buf[128];
	struct stat st;
	long i;

	for (i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t r;

		if (fd < 0)
			return 1;
		fstat(fd, &st);
		r = read(fd, buf, sizeof(buf));
		close(fd);
		h = fnv1a(h, buf, r > 0 ? (size_t)r : 0);
	}
	return h;
}

static uint64_t maps(long n)
{
	uint64_t h = 0;
	long i;
	int k;

	for (i = 0; i < n; i++) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 1;
		for (k = 0; k < 16; k++)
			p[k * 4096 * 16] = (char)k;
		h += (unsigned char)p[4096 * 16 * 15];
		munmap(p, 1 << 20);
	}
	return h;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "nop", *tf = getenv("SBX_TIME_FILE");
	long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
	uint64_t r = 0;

	t0 = now_ns();
	if (!strcmp(what, "compute"))
		r = compute(a);
	else if (!strcmp(what, "tlb"))
		r = tlb(a, b);
	else if (!strcmp(what, "syscalls"))
		r = syscalls(a);
	else if (!strcmp(what, "files"))
		r = files(a, argc > 3 ? argv[3] : "/etc/hostname");
	else if (!strcmp(what, "mmap"))
		r = maps(a);
	else if (strcmp(what, "nop")) {
		fprintf(stderr, "bench: unknown workload %s\n", what);
		return 2;
	}
	if (tf) {
		/* the workload's own time, start-up excluded, for the driver (stdout stays deterministic) */
		FILE *f = fopen(tf, "w");

		if (f) {
			fprintf(f, "%llu\n", (unsigned long long)(now_ns() - t0));
			fclose(f);
		}
	}
	printf("%s %016llx\n", what, (unsigned long long)r);
	return 0;
}
