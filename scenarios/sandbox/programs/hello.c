/*
 * hello: an ordinary static C program whose output must be identical natively and sandboxed:
 * arguments and environment, the heap (brk and mmap), stdio, files written and read back under a
 * scratch directory, a directory listing, stat, a pipe, floating point, qsort, time arithmetic, the
 * exit status.  `hello DIR` uses DIR as scratch (default /tmp/sbx-rw).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/time.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/sbx-rw";
	char path[512], buf[256], *names[64];
	struct stat st;
	struct utsname u;
	DIR *d;
	struct dirent *de;
	int fd, i, n = 0, p[2];
	uint64_t h = FNV_INIT;
	double acc = 0;
	char *small, *big;

	printf("argc=%d", argc);
	for (i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\nHOME=%s\n", getenv("HOME") ? getenv("HOME") : "(unset)");

	small = malloc(100);
	big = malloc(8 << 20);
	if (!small || !big)
		return 99;
	memset(big, 0x5a, 8 << 20);
	for (i = 0; i < (8 << 20); i += 4096)
		h = fnv1a(h, big + i, 16);
	printf("heap ok, checksum %016llx\n", (unsigned long long)h);
	free(big);
	free(small);

	for (i = 1; i <= 1000; i++)
		acc += sqrt((double)i) * sin(i * 0.001);
	printf("float %.6f\n", acc);

	mkdir(dir, 0755);
	for (i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/hello-%d.txt", dir, 4 - i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			printf("open %s: %s\n", path, errname(errno));
			return 2;
		}
		dprintf(fd, "file %d\n", 4 - i);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/hello-2.txt", dir);
	fd = open(path, O_RDONLY);
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	printf("read back: %s", buf);
	if (!stat(path, &st))
		printf("stat: size %lld mode %o\n", (long long)st.st_size, st.st_mode & 0777);
	d = opendir(dir);
	n = 0;
	while (d && (de = readdir(d)) && n < 64)
		if (!strncmp(de->d_name, "hello-", 6))
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp);
	printf("listing:");
	for (i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
	for (i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/hello-%d.txt", dir, i);
		unlink(path);
	}

	if (pipe(p) == 0) {
		if (write(p[1], "through a pipe", 14) == 14 && read(p[0], buf, 14) == 14) {
			buf[14] = 0;
			printf("pipe: %s\n", buf);
		}
		close(p[0]);
		close(p[1]);
	}
	printf("uname: %s\n", uname(&u) == 0 ? u.sysname : "failed");
	printf("getpid>0: %d, cwd ok: %d\n", getpid() > 0, getcwd(buf, sizeof(buf)) != NULL);
	fflush(stdout);
	return 7;
}
