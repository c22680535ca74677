/*
 * test_paths.c - path resolution against the policy, on a real directory tree: symlinks in and out
 * of the policy's directories, "..", absolute links, loops, trailing slashes, /proc/self, the
 * directory cache, and a race (a directory swapped for a symlink to a secret directory while files
 * are being created in it) that must never put a file outside the policy.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "paths.h"
#include "policy.h"

static char T[256];
static struct sbx_policy *pol;
static struct sbx_fs fs;

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", T, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void lnk(const char *target, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", T, rel);
	if (symlink(target, p))
		perror(p);
}

static void dir(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", T, rel);
	mkdir(p, 0755);
}

static int keep(int fd, void *ctx)
{
	(void)ctx;
	return fd;
}

static void drop(int fd, void *ctx)
{
	(void)ctx;
	close(fd);
}

static void setup(void)
{
	char text[1024], abs_in[300], abs_out[300];
	struct sbx_policy_error e;

	if (pol)
		return;
	snprintf(T, sizeof(T), "/tmp/sbx-paths-XXXXXX");
	if (!mkdtemp(T)) {
		perror("mkdtemp");
		exit(2);
	}
	dir("ro");
	dir("ro/dir");
	dir("rw");
	dir("secret");
	put("ro/file", "ro");
	put("ro/dir/f2", "f2");
	put("secret/s", "secret");
	put("lone", "lone");
	lnk("file", "ro/link_in");
	lnk("../secret/s", "ro/link_out");
	snprintf(abs_in, sizeof(abs_in), "%s/ro/file", T);
	snprintf(abs_out, sizeof(abs_out), "%s/secret/s", T);
	lnk(abs_in, "ro/abs_in");
	lnk(abs_out, "ro/abs_out");
	lnk("loop2", "ro/loop1");
	lnk("loop1", "ro/loop2");
	lnk("../secret", "rw/esc");
	lnk("../ro", "rw/into_ro");
	snprintf(text, sizeof(text), "version: 1\nsyscalls: {}\nfiles:\n  read: [%s/ro, /proc/self, %s/lone]\n  write: [%s/rw]\n",
		 T, T, T);
	pol = sbx_policy_parse(text, strlen(text), "test", &e);
	if (!pol) {
		printf("policy: %s\n", e.msg);
		exit(2);
	}
	if (sbx_fs_init(&fs, pol, T, getpid(), keep, drop, NULL)) {
		printf("sbx_fs_init failed\n");
		exit(2);
	}
}

/* resolve + open (following) for reading; returns the content or an errno string */
static const char *cat(const char *rel, int *err, enum sbx_why *why)
{
	static char buf[64];
	struct sbx_resolved r;
	char p[512];
	int fd, ret;
	ssize_t n;

	snprintf(p, sizeof(p), "%s%s%s", rel[0] == '/' ? "" : T, rel[0] == '/' ? "" : "/", rel);
	*why = WHY_NONE;
	ret = sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_READ, &r);
	if (ret) {
		*err = ret;
		*why = r.why;
		sbx_fs_release(&fs, &r);
		return NULL;
	}
	fd = sbx_fs_open_final(&fs, &r, O_RDONLY, 0, true, NEED_READ);
	*why = r.why;
	sbx_fs_release(&fs, &r);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	*err = 0;
	return buf;
}

static void reads_inside_the_policy(void)
{
	const char *s;
	enum sbx_why w;
	int e;

	setup();
	s = cat("ro/file", &e, &w);
	CHECK(s && !strcmp(s, "ro"));
	s = cat("ro/dir/f2", &e, &w);
	CHECK(s && !strcmp(s, "f2"));
	s = cat("ro/link_in", &e, &w);		/* relative link inside */
	CHECK(s && !strcmp(s, "ro"));
	s = cat("ro/abs_in", &e, &w);		/* absolute link inside */
	CHECK(s && !strcmp(s, "ro"));
	s = cat("ro/dir/../file", &e, &w);	/* ".." staying inside */
	CHECK(s && !strcmp(s, "ro"));
	s = cat("rw/into_ro/file", &e, &w);	/* a link from one prefix into another */
	CHECK(s && !strcmp(s, "ro"));
	s = cat("ro//./dir///f2", &e, &w);
	CHECK(s && !strcmp(s, "f2"));
}

static void escapes_are_refused(void)
{
	static const char *const outside[] = {
		"secret/s", "ro/link_out", "ro/abs_out", "ro/../secret/s", "rw/esc/s", "ro/dir/../../secret/s",
		"rw/into_ro/../secret/s", "/etc/passwd",
	};
	size_t i;

	setup();
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		enum sbx_why w;
		int e = 0;
		const char *s = cat(outside[i], &e, &w);

		CHECK_MSG(!s && e == -EACCES && w == WHY_OUTSIDE, "%s: %s, errno %d, why %d", outside[i], s ? s : "-", e,
			  w);
	}
}

static void writes_need_files_write(void)
{
	struct sbx_resolved r;
	char p[512], q[512];
	int fd;

	setup();
	snprintf(p, sizeof(p), "%s/ro/file", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == -EACCES && r.why == WHY_READONLY);
	sbx_fs_release(&fs, &r);
	snprintf(p, sizeof(p), "%s/rw/into_ro/new", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == -EACCES && r.why == WHY_READONLY);
	sbx_fs_release(&fs, &r);
	/* creating through an escaping directory symlink */
	snprintf(p, sizeof(p), "%s/rw/esc/planted", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == -EACCES);
	sbx_fs_release(&fs, &r);
	snprintf(q, sizeof(q), "%s/secret/planted", T);
	CHECK(access(q, F_OK) != 0);
	/* creating through a dangling symlink that points outside */
	lnk("../secret/planted2", "rw/dangling");
	snprintf(p, sizeof(p), "%s/rw/dangling", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == 0 && r.writable);
	fd = sbx_fs_open_final(&fs, &r, O_WRONLY | O_CREAT, 0644, true, NEED_WRITE);
	CHECK(fd == -EACCES && r.why == WHY_OUTSIDE);
	sbx_fs_release(&fs, &r);
	snprintf(q, sizeof(q), "%s/secret/planted2", T);
	CHECK(access(q, F_OK) != 0);
	/* and a plain new file where writing is allowed */
	snprintf(p, sizeof(p), "%s/rw/new", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == 0);
	fd = sbx_fs_open_final(&fs, &r, O_WRONLY | O_CREAT | O_EXCL, 0644, true, NEED_WRITE);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	if (fd >= 0)
		close(fd);
	sbx_fs_release(&fs, &r);
	snprintf(q, sizeof(q), "%s/rw/new", T);
	CHECK(access(q, F_OK) == 0);
}

static void loops_slashes_relative(void)
{
	struct sbx_resolved r;
	char p[512], ro[512];
	enum sbx_why w;
	int e, dfd, fd;

	setup();
	CHECK(!cat("ro/loop1", &e, &w) && e == -ELOOP);
	CHECK(!cat("ro/file/", &e, &w) && e == -ENOTDIR);
	CHECK(!cat("ro/nonexistent", &e, &w) && e == -ENOENT);
	/* relative to the cwd */
	snprintf(ro, sizeof(ro), "%s/ro", T);
	snprintf(fs.cwd, sizeof(fs.cwd), "%s", ro);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, "dir/f2", NEED_READ, &r) == 0 && !strcmp(r.name, "f2"));
	sbx_fs_release(&fs, &r);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, "../secret/s", NEED_READ, &r) == -EACCES);
	sbx_fs_release(&fs, &r);
	snprintf(fs.cwd, sizeof(fs.cwd), "%s", T);
	/* relative to a directory fd */
	snprintf(p, sizeof(p), "%s/ro/dir", T);
	dfd = open(p, O_PATH | O_DIRECTORY);
	CHECK(dfd >= 0);
	CHECK(sbx_fs_resolve(&fs, dfd, "f2", NEED_READ, &r) == 0);
	fd = sbx_fs_open_final(&fs, &r, O_RDONLY, 0, true, NEED_READ);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	sbx_fs_release(&fs, &r);
	CHECK(sbx_fs_resolve(&fs, dfd, "../../secret/s", NEED_READ, &r) == -EACCES);
	sbx_fs_release(&fs, &r);
	close(dfd);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, "", NEED_READ, &r) == -ENOENT);
}

static void proc_self_and_forbidden(void)
{
	struct sbx_resolved r;
	char p[512];
	enum sbx_why w;
	int e, fd;

	setup();
	CHECK(cat("/proc/self/status", &e, &w) != NULL);
	snprintf(p, sizeof(p), "/proc/%d/status", (int)getpid());
	CHECK(cat(p, &e, &w) != NULL);			/* /proc/<own pid> is /proc/self */
	CHECK(!cat("/proc/self/mem", &e, &w) && e == -EACCES && w == WHY_FORBIDDEN);
	snprintf(p, sizeof(p), "/proc/%d/mem", (int)getpid());
	CHECK(!cat(p, &e, &w) && e == -EACCES && w == WHY_FORBIDDEN);
	CHECK(!cat("/proc/self/task/1/mem", &e, &w) && e == -EACCES);
	CHECK(!cat("/proc/1/status", &e, &w) && e == -EACCES && w == WHY_OUTSIDE);
	/* /proc/self/fd/N is followed as a path: a descriptor of a file outside leads outside */
	snprintf(p, sizeof(p), "%s/secret/s", T);
	fd = open(p, O_RDONLY);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	CHECK(!cat(p, &e, &w) && e == -EACCES);
	close(fd);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, "/dev/dune", NEED_READ, &r) == -EACCES && r.why == WHY_FORBIDDEN);
	sbx_fs_release(&fs, &r);
}

static void open_flags_need(void)
{
	CHECK(sbx_open_need(O_RDONLY) == NEED_READ);
	CHECK(sbx_open_need(O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK) == NEED_READ);	/* ls opens dirs so */
	CHECK(sbx_open_need(O_PATH | O_DIRECTORY) == NEED_READ);
	CHECK(sbx_open_need(O_WRONLY) == NEED_WRITE);
	CHECK(sbx_open_need(O_RDWR) == NEED_WRITE);
	CHECK(sbx_open_need(O_RDONLY | O_CREAT) == NEED_WRITE);
	CHECK(sbx_open_need(O_RDONLY | O_TRUNC) == NEED_WRITE);
	CHECK(sbx_open_need(O_TMPFILE | O_RDWR) == NEED_WRITE);
}

static void ancestors_of_prefixes(void)
{
	char p[512];

	setup();
	CHECK(sbx_fs_is_ancestor(&fs, "/"));
	CHECK(sbx_fs_is_ancestor(&fs, "/tmp"));
	CHECK(sbx_fs_is_ancestor(&fs, T));
	snprintf(p, sizeof(p), "%s/", T);
	CHECK(sbx_fs_is_ancestor(&fs, p));
	snprintf(p, sizeof(p), "%s/ro", T);
	CHECK(!sbx_fs_is_ancestor(&fs, p));	/* a prefix itself is not above one */
	snprintf(p, sizeof(p), "%s/secret", T);
	CHECK(!sbx_fs_is_ancestor(&fs, p));
	CHECK(!sbx_fs_is_ancestor(&fs, "/etc"));
}

static void cache_and_invalidation(void)
{
	struct sbx_resolved r;
	char p[512], q[512];
	uint64_t hits;

	setup();
	dir("rw/d");
	snprintf(p, sizeof(p), "%s/rw/d/x", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == 0);
	sbx_fs_release(&fs, &r);
	hits = fs.cache_hits;
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == 0);
	sbx_fs_release(&fs, &r);
	CHECK(fs.cache_hits == hits + 1);
	/* the directory is replaced by a symlink to the secret directory: after invalidation the
	 * path resolves again and is refused */
	snprintf(q, sizeof(q), "%s/rw/e", T);
	snprintf(p, sizeof(p), "%s/rw/d", T);
	CHECK(rename(p, q) == 0);
	lnk("../secret", "rw/d");
	sbx_fs_invalidate(&fs);
	snprintf(p, sizeof(p), "%s/rw/d/x", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == -EACCES);
	sbx_fs_release(&fs, &r);
}

/* ---- the race ---- */

static volatile int stop;

static void *flipper(void *arg)
{
	char a[512], b[512], c[512];

	(void)arg;
	snprintf(a, sizeof(a), "%s/rw/flip", T);
	snprintf(b, sizeof(b), "%s/rw/flip.dir", T);
	snprintf(c, sizeof(c), "%s/rw/flip.lnk", T);
	while (!stop) {
		rename(b, a);	/* the real directory */
		rename(a, b);
		rename(c, a);	/* the symlink to ../secret */
		rename(a, c);
	}
	return NULL;
}

static void race_never_writes_outside(void)
{
	pthread_t th;
	char p[512];
	int i, made = 0;
	DIR *d;
	struct dirent *de;

	setup();
	dir("rw/flip.dir");
	lnk("../secret", "rw/flip.lnk");
	pthread_create(&th, NULL, flipper, NULL);
	for (i = 0; i < 20000; i++) {
		struct sbx_resolved r;
		int fd;

		snprintf(p, sizeof(p), "%s/rw/flip/f%d", T, i % 50);
		if (sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) == 0) {
			fd = sbx_fs_open_final(&fs, &r, O_WRONLY | O_CREAT, 0644, true, NEED_WRITE);
			if (fd >= 0) {
				made++;
				close(fd);
			}
		}
		sbx_fs_release(&fs, &r);
		if (i % 64 == 0)
			sbx_fs_invalidate(&fs);
	}
	stop = 1;
	pthread_join(th, NULL);
	printf("  %d files created while the directory flipped\n", made);
	snprintf(p, sizeof(p), "%s/secret", T);
	d = opendir(p);
	CHECK(d != NULL);
	while (d && (de = readdir(d)))
		CHECK_MSG(!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "s"),
			  "%s appeared in the secret directory", de->d_name);
	if (d)
		closedir(d);
	CHECK(made > 0);
}

static void cleanup(void)
{
	char cmd[400];

	sbx_fs_invalidate(&fs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T);
	CHECK(system(cmd) == 0);
	sbx_policy_free(pol);
	pol = NULL;
}

/* A prefix that is a file (a policy's /dev/null): opened as programs open it, O_NOFOLLOW included. */
static void file_prefixes_open(void)
{
	struct sbx_resolved r;
	struct stat st;
	char p[512], buf[8];
	int fd;

	setup();
	snprintf(p, sizeof(p), "%s/lone", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_READ, &r) == 0);
	fd = sbx_fs_open_final(&fs, &r, O_RDONLY | O_NOFOLLOW, 0, false, NEED_READ);
	CHECK_MSG(fd >= 0, "O_RDONLY|O_NOFOLLOW of a file prefix: %d", fd);
	if (fd >= 0) {
		CHECK(read(fd, buf, sizeof(buf)) == 4 && !memcmp(buf, "lone", 4));
		close(fd);
	}
	fd = sbx_fs_open_final(&fs, &r, O_PATH | O_NOFOLLOW, 0, false, NEED_READ);
	CHECK(fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode));	/* the file, not /proc/self/fd/N */
	if (fd >= 0)
		close(fd);
	sbx_fs_release(&fs, &r);
	snprintf(p, sizeof(p), "%s/lone", T);
	CHECK(sbx_fs_resolve(&fs, AT_FDCWD, p, NEED_WRITE, &r) != 0);	/* read-only prefix */
	sbx_fs_release(&fs, &r);
}

TESTS(paths_tests) = {
	T(reads_inside_the_policy),
	T(file_prefixes_open),
	T(escapes_are_refused),
	T(writes_need_files_write),
	T(loops_slashes_relative),
	T(proc_self_and_forbidden),
	T(open_flags_need),
	T(ancestors_of_prefixes),
	T(cache_and_invalidation),
	T(race_never_writes_outside),
	T(cleanup),
	{ NULL, NULL },
};
