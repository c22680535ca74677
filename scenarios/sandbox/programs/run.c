/*
 * sbx-run: the driver of the sandbox scenario's rows (runs in the guest, natively).
 *
 *   sbx-run compare NAME [--reps N] [--policy P] [--stdin FILE] [--cwd DIR] [--gen FILE BYTES]...
 *                   [--write FILE TEXT]... [--clean DIR]... [--inner] -- PROGRAM ARGS...
 *       (--clean DIR: created if missing and emptied before every run)
 *       Runs PROGRAM natively and under dune-sandbox, alternately, N times each; stdout, stderr
 *       and the exit status (code or signal) must be byte-for-byte identical every time.  Emits
 *       the wall-clock times as DUNELAB-METRIC NAME (variants linux and dune, unit ms); with --inner
 *       also NAME-inner, the time the program measured itself (start-up excluded, SBX_TIME_FILE).
 *
 *   sbx-run hostile CASE [--policy P] [--expect exit:N|signal:N] [--log-has TEXT]... [--absent PATH]...
 *                   [--or-dune-kill] [-- EXTRA ARGS]
 *       Plants canary files outside the policy, runs sbx-hostile CASE under dune-sandbox --verify,
 *       and passes only if the program ended as expected, printed no ESCAPE line, the monitor's
 *       self-check says intact, every canary (and /etc/passwd, and the monitor's own binary) is
 *       unchanged and nothing new appeared where the program may not write.
 *
 *   sbx-run policy-error FILE TEXT
 *       dune-sandbox must refuse a bad policy with a message naming the file, line and field.
 *
 * Every mode prints "PASS ..." or "FAIL ..." lines (the row's judgement) and exits 0 or 1.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/time.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>

#include "util.h"

#define MAXARGS 64

static char here[4096];		/* the directory of this program: dune-sandbox and sbx-* live there */
static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures++;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*len = 0;
	if (!f)
		return strdup("");
	for (;;) {
		size_t r;

		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			if (!buf)
				exit(3);
		}
		r = fread(buf + n, 1, cap - n, f);
		if (!r)
			break;
		n += r;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	buf[n] = 0;
	*len = n;
	return buf;
}

struct run {
	int status;		/* wait status */
	uint64_t ns;
	char *out, *err;
	size_t outlen, errlen;
};

static void run_child(char *const argv[], const char *in, const char *cwd, struct run *r)
{
	char outp[] = "/tmp/sbx-run-out-XXXXXX", errp[] = "/tmp/sbx-run-err-XXXXXX";
	int of = mkstemp(outp), ef = mkstemp(errp);
	uint64_t t0;
	pid_t pid;

	fflush(stdout);
	t0 = now_ns();
	pid = fork();
	if (pid == 0) {
		int fd = open(in ? in : "/dev/null", O_RDONLY);

		if (fd < 0 || dup2(fd, 0) < 0 || dup2(of, 1) < 0 || dup2(ef, 2) < 0)
			_exit(120);
		if (cwd && chdir(cwd))
			_exit(121);
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &r->status, 0);
	r->ns = now_ns() - t0;
	close(of);
	close(ef);
	r->out = slurp(outp, &r->outlen);
	r->err = slurp(errp, &r->errlen);
	unlink(outp);
	unlink(errp);
}

static void free_run(struct run *r)
{
	free(r->out);
	free(r->err);
}

static const char *describe(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "status %#x", st);
	return buf;
}

/* deterministic, compressible text (words from a small vocabulary) */
static void gen(const char *path, long bytes)
{
	static const char *const words[] = { "the", "sandbox", "monitor", "ring", "three", "dune", "page",
					      "table", "system", "call", "policy", "arena", "signal", "frame",
					      "kernel", "host", "guest", "fault", "vector", "memory" };
	FILE *f = fopen(path, "w");
	uint64_t x = 1;
	long n = 0, col = 0;

	if (!f) {
		fail("cannot create %s", path);
		return;
	}
	while (n < bytes) {
		const char *w;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		w = words[(x >> 33) % 20];
		n += fprintf(f, "%s%s", w, (x >> 20) % 9 == 0 ? ".\n" : " ");
		col++;
		if ((x >> 40) % 61 == 0)
			n += fprintf(f, "%llu\n", (unsigned long long)(x >> 44));
	}
	fclose(f);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		fail("cannot write %s", path);
}

static double read_ns(const char *path)
{
	size_t len;
	char *s = slurp(path, &len);
	double v = len ? strtod(s, NULL) : 0;

	free(s);
	return v;
}

static void rm_rf_contents(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096];

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!lstat(p, &st) && S_ISDIR(st.st_mode)) {
			rm_rf_contents(p);
			rmdir(p);
		} else {
			unlink(p);
		}
	}
	closedir(d);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void metric(const char *name, const char *variant, const char *unit, const double *v, int n, const char *extra)
{
	int i;

	printf("DUNELAB-METRIC {\"name\": \"%s\", \"variant\": \"%s\", \"unit\": \"%s\", \"samples\": [", name, variant,
	       unit);
	for (i = 0; i < n; i++)
		printf("%s%.6f", i ? ", " : "", v[i]);	/* ms to the ns */
	printf("], \"ops_per_sample\": 1%s%s}\n", extra && *extra ? ", " : "", extra ? extra : "");
}

/* ------------------------------------------------------------- compare */

static int do_compare(int argc, char **argv)
{
	const char *name = argv[0], *policy = "default", *in = NULL, *cwd = NULL;
	char *sargv[MAXARGS + 16], logp[] = "/tmp/sbx-run-log-XXXXXX", sandbox[4200], d1[64], d2[64];
	double tl[64], td[64], il[64], id[64];
	bool inner = false;
	char tfile[64];
	uint64_t sl[64], sd[64];
	int reps = 3, i, k, ns = 0, lfd;
	char *cleans[8];
	int ncleans = 0;
	char **prog = NULL;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			prog = argv + i + 1;
			break;
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--policy") && i + 1 < argc)
			policy = argv[++i];
		else if (!strcmp(argv[i], "--stdin") && i + 1 < argc)
			in = argv[++i];
		else if (!strcmp(argv[i], "--cwd") && i + 1 < argc)
			cwd = argv[++i];
		else if (!strcmp(argv[i], "--inner"))
			inner = true;
		else if (!strcmp(argv[i], "--gen") && i + 2 < argc) {
			gen(argv[i + 1], atol(argv[i + 2]));
			i += 2;
		} else if (!strcmp(argv[i], "--write") && i + 2 < argc) {
			write_file(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (!strcmp(argv[i], "--clean") && i + 1 < argc && ncleans < 8) {
			cleans[ncleans++] = argv[++i];
			mkdir(argv[i], 0755);	/* emptied before every run; there for the program to write in */
		} else {
			fail("compare: unknown option %s", argv[i]);
			return 1;
		}
	}
	if (!prog || !prog[0] || reps < 1 || reps > 64) {
		fail("compare: usage: sbx-run compare NAME [options] -- PROGRAM ARGS");
		return 1;
	}
	if (access(prog[0], X_OK) && prog[0][0] == '/') {
		fail("%s: %s is not in this guest", name, prog[0]);
		return 1;
	}
	lfd = mkstemp(logp);
	close(lfd);
	snprintf(sandbox, sizeof(sandbox), "%s/dune-sandbox", here);
	sargv[ns++] = sandbox;
	sargv[ns++] = "--policy";
	sargv[ns++] = (char *)policy;
	sargv[ns++] = "--log";
	sargv[ns++] = logp;
	sargv[ns++] = "--";
	for (k = 0; prog[k] && k < MAXARGS; k++)
		sargv[ns++] = prog[k];
	sargv[ns] = NULL;

	snprintf(tfile, sizeof(tfile), "/tmp/sbx-time-%d", (int)getpid());
	if (inner)
		setenv("SBX_TIME_FILE", tfile, 1);	/* the program reports its own time there */
	for (i = 0; i < reps; i++) {
		struct run a, b;

		for (k = 0; k < ncleans; k++)
			rm_rf_contents(cleans[k]);
		unlink(tfile);
		run_child(prog, in, cwd, &a);
		il[i] = inner ? read_ns(tfile) / 1e6 : 0;
		for (k = 0; k < ncleans; k++)
			rm_rf_contents(cleans[k]);
		unlink(tfile);
		run_child(sargv, in, cwd, &b);
		id[i] = inner ? read_ns(tfile) / 1e6 : 0;
		sl[i] = a.ns;
		sd[i] = b.ns;
		tl[i] = (double)a.ns / 1e6;
		td[i] = (double)b.ns / 1e6;
		if (a.status != b.status)
			fail("%s rep %d: native ended with %s, sandboxed with %s", name, i, describe(a.status, d1, sizeof(d1)),
			     describe(b.status, d2, sizeof(d2)));
		if (a.outlen != b.outlen || memcmp(a.out, b.out, a.outlen)) {
			size_t o = 0;

			while (o < a.outlen && o < b.outlen && a.out[o] == b.out[o])
				o++;
			fail("%s rep %d: stdout differs at byte %zu (native %zu bytes, sandboxed %zu)", name, i, o, a.outlen,
			     b.outlen);
			printf("  native:    %.200s\n  sandboxed: %.200s\n", a.out + (o > 40 ? o - 40 : 0),
			       b.out + (o > 40 ? o - 40 : 0));
		}
		if (a.errlen != b.errlen || memcmp(a.err, b.err, a.errlen)) {
			fail("%s rep %d: stderr differs (native %zu bytes, sandboxed %zu)", name, i, a.errlen, b.errlen);
			printf("  native:    %.300s\n  sandboxed: %.300s\n", a.err, b.err);
		}
		if (i == 0)
			printf("%s: %s, %zu bytes of stdout, %zu of stderr\n", name, describe(a.status, d1, sizeof(d1)),
			       a.outlen, a.errlen);
		free_run(&a);
		free_run(&b);
	}
	{
		size_t len;
		char *log = slurp(logp, &len), *p;
		int denied = 0;

		for (p = log; (p = strstr(p, "\"decision\":\"deny\"")); p++)
			denied++;
		if (denied)
			printf("%s: the sandbox denied %d call(s); the log:\n%.2000s\n", name, denied, log);
		free(log);
		unlink(logp);
	}
	qsort(sl, (size_t)reps, sizeof(sl[0]), cmp_u64);
	qsort(sd, (size_t)reps, sizeof(sd[0]), cmp_u64);
	metric(name, "linux", "ms", tl, reps, NULL);
	metric(name, "dune", "ms", td, reps, NULL);
	if (inner) {
		char iname[128];

		unlink(tfile);
		snprintf(iname, sizeof(iname), "%s-inner", name);
		metric(iname, "linux", "ms", il, reps, NULL);
		metric(iname, "dune", "ms", id, reps, NULL);
		for (i = 0; i < reps; i++)
			if (il[i] <= 0 || id[i] <= 0)
				fail("%s: the program did not report its own time", name);
	}
	if (!failures)
		printf("PASS %s: identical output in %d runs; median %.1f ms native, %.1f ms sandboxed (%+.1f%%)\n", name,
		       reps, sl[reps / 2] / 1e6, sd[reps / 2] / 1e6,
		       100.0 * ((double)sd[reps / 2] - (double)sl[reps / 2]) / (double)sl[reps / 2]);
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------- hostile */

struct snap {
	char path[256];
	bool exists;
	struct stat st;
	uint64_t hash;
};

static void snap_one(struct snap *s, const char *path)
{
	size_t len;
	char *data;

	snprintf(s->path, sizeof(s->path), "%s", path);
	s->exists = !lstat(path, &s->st);
	s->hash = 0;
	if (s->exists && S_ISREG(s->st.st_mode)) {
		data = slurp(path, &len);
		s->hash = fnv1a(FNV_INIT, data, len);
		free(data);
	}
}

static bool snap_same(const struct snap *a, const struct snap *b)
{
	return a->exists == b->exists && (!a->exists || (a->st.st_size == b->st.st_size && a->st.st_mode == b->st.st_mode &&
							 a->st.st_uid == b->st.st_uid && a->st.st_ino == b->st.st_ino &&
							 a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
							 a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec &&
							 a->hash == b->hash));
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static void plant_canaries(void)
{
	FILE *f;
	int i;

	mkdir("/root/sbx-canary", 0755);
	mkdir("/root/sbx-canary/dir", 0755);
	f = fopen("/root/sbx-canary/file", "w");
	if (f) {
		for (i = 0; i < 256; i++)
			fprintf(f, "canary line %d: must never change\n", i);
		fclose(f);
	}
	f = fopen("/root/sbx-canary/dir/f2", "w");
	if (f) {
		fputs("second canary\n", f);
		fclose(f);
	}
}

static int do_hostile(int argc, char **argv)
{
	const char *cname = argv[0], *policy = "strict", *expect = "exit:0";
	const char *has[16], *absent[16];
	int nhas = 0, nabsent = 0, i, ns = 0, lfd, want_exit = -1, want_sig = -1, attempts = 0, escaped = -1;
	bool or_dune_kill = false, dune_killed = false;
	char *sargv[MAXARGS + 16], logp[] = "/tmp/sbx-run-log-XXXXXX", sandbox[4200], hostile[4200], d1[64];
	char monitor_bin[4200], runner_bin[4200];
	struct snap before[8], after[8];
	const char *watch[8];
	int nwatch = 0, entries_before;
	struct run r;
	char *p;
	double v;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--policy") && i + 1 < argc)
			policy = argv[++i];
		else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect = argv[++i];
		else if (!strcmp(argv[i], "--log-has") && i + 1 < argc && nhas < 16)
			has[nhas++] = argv[++i];
		else if (!strcmp(argv[i], "--absent") && i + 1 < argc && nabsent < 16)
			absent[nabsent++] = argv[++i];
		else if (!strcmp(argv[i], "--or-dune-kill"))
			or_dune_kill = true;
		else {
			fail("hostile: unknown option %s", argv[i]);
			return 1;
		}
	}
	if (!strncmp(expect, "exit:", 5))
		want_exit = atoi(expect + 5);
	else if (!strncmp(expect, "signal:", 7))
		want_sig = atoi(expect + 7);
	else {
		fail("hostile: --expect exit:N or signal:N");
		return 1;
	}
	mkdir("/tmp/sbx-rw", 0755);
	rm_rf_contents("/tmp/sbx-rw");
	plant_canaries();
	snprintf(sandbox, sizeof(sandbox), "%s/dune-sandbox", here);
	snprintf(hostile, sizeof(hostile), "%s/sbx-hostile", here);
	snprintf(monitor_bin, sizeof(monitor_bin), "%s/dune-sandbox", here);
	snprintf(runner_bin, sizeof(runner_bin), "%s/sbx-run", here);
	watch[nwatch++] = "/root/sbx-canary/file";
	watch[nwatch++] = "/root/sbx-canary/dir/f2";
	watch[nwatch++] = "/root/sbx-canary/dir";
	watch[nwatch++] = "/etc/passwd";
	watch[nwatch++] = monitor_bin;
	watch[nwatch++] = runner_bin;
	watch[nwatch++] = hostile;
	for (i = 0; i < nwatch; i++)
		snap_one(&before[i], watch[i]);
	entries_before = count_entries("/root/sbx-canary");

	lfd = mkstemp(logp);
	close(lfd);
	sargv[ns++] = sandbox;
	sargv[ns++] = "--policy";
	sargv[ns++] = (char *)policy;
	sargv[ns++] = "--log";
	sargv[ns++] = logp;
	sargv[ns++] = "--verify";
	sargv[ns++] = "--";
	sargv[ns++] = hostile;
	sargv[ns++] = (char *)cname;
	for (; i < argc && ns < MAXARGS; i++)
		sargv[ns++] = argv[i];
	sargv[ns] = NULL;
	run_child(sargv, NULL, "/tmp", &r);

	printf("---- sbx-hostile %s under policy %s: %s after %.1f ms\n", cname, policy, describe(r.status, d1, sizeof(d1)),
	       r.ns / 1e6);
	fwrite(r.out, 1, r.outlen, stdout);
	if (r.errlen)
		printf("---- stderr\n%.3000s\n", r.err);
	{
		size_t len;
		char *log = slurp(logp, &len);

		printf("---- the sandbox's log\n%.6000s%s\n", log, len > 6000 ? "\n[...]" : "");
		/* dune.ko ending the whole process (an unhandled VM exit) contains the program as well; the
		 * monitor gets no chance to check itself then.  Accepted only where the row says so. */
		if (or_dune_kill && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 125 &&
		    strstr(r.err, "dune: fatal: unhandled VM exit")) {
			dune_killed = true;
			printf("NOTE %s: dune.ko ended the process (an unhandled VM exit): contained, but the monitor "
			       "could not report it\n", cname);
			want_exit = want_sig = -1;
		}
		/* the judgement */
		if (want_exit >= 0 && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == want_exit))
			fail("%s: ended with %s, expected exit %d", cname, describe(r.status, d1, sizeof(d1)), want_exit);
		if (want_sig >= 0 && !(WIFSIGNALED(r.status) && WTERMSIG(r.status) == want_sig))
			fail("%s: ended with %s, expected death by signal %d", cname, describe(r.status, d1, sizeof(d1)),
			     want_sig);
		if (strstr(r.out, "ESCAPE"))
			fail("%s: the program reports an escape", cname);
		if (!strstr(log, "\"event\":\"verify\"")) {
			if (!dune_killed)
				fail("%s: the monitor did not report its self-check", cname);
		} else if (!strstr(log, "\"intact\":true"))
			fail("%s: the monitor's self-check failed (its memory or page tables changed)", cname);
		for (i = 0; i < nhas && !dune_killed; i++)
			if (!strstr(log, has[i]))
				fail("%s: the log lacks %s", cname, has[i]);
		p = strstr(r.out, "RESULT ");
		if (p && sscanf(p, "RESULT case=%*s attempts=%d escaped=%d", &attempts, &escaped) != 2)
			escaped = -1;
		if (!p || dune_killed) {	/* a case that ends the program: one attempt, contained if it ended as expected */
			attempts = 1;
			escaped = 0;
		}
		free(log);
	}
	for (i = 0; i < nwatch; i++) {
		snap_one(&after[i], watch[i]);
		if (!snap_same(&before[i], &after[i]))
			fail("%s: %s changed", cname, watch[i]);
	}
	if (count_entries("/root/sbx-canary") != entries_before)
		fail("%s: something appeared in /root/sbx-canary", cname);
	for (i = 0; i < nabsent; i++)
		if (!access(absent[i], F_OK))
			fail("%s: %s exists (the program created it)", cname, absent[i]);
	v = attempts;
	metric("hostile_attempts", "dune", "count", &v, 1, NULL);
	v = escaped < 0 ? 1 : escaped;
	metric("hostile_escaped", "dune", "count", &v, 1, NULL);
	free_run(&r);
	unlink(logp);
	if (!failures)
		printf("PASS %s: contained (%d attempts, 0 escaped; monitor intact; files outside the policy unchanged)\n",
		       cname, attempts);
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ web */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

struct conn {
	int fd;
	size_t got, want;	/* response bytes read, expected (0: headers not complete yet) */
	char hdr[2048];
	size_t hlen;
	bool keep;
};

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_get(struct conn *c, int port, const char *path)
{
	char req[512];
	int n;

	if (c->fd < 0)
		c->fd = connect_to(port);
	if (c->fd < 0)
		return -1;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n", path);
	if (write(c->fd, req, (size_t)n) != n) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->got = c->want = c->hlen = 0;
	return 0;
}

/*
 * Closed-loop load: `clients` connections each send GET path, read the whole response (Content-Length),
 * and send the next (reconnecting if the server closes), until `requests` have completed.  Returns
 * requests per second of the guest's clock (a fixed amount of work, not a fixed time: an emulator's
 * clock can crawl); *bad counts responses that were not "200" with the expected body length.
 */
static double load(int port, const char *path, size_t body, int clients, long requests, int *bad)
{
	struct conn *c = calloc((size_t)clients, sizeof(*c));
	struct pollfd *pf = calloc((size_t)clients, sizeof(*pf));
	uint64_t t0 = now_ns();
	long done = 0, idle = 0;
	int i;
	char buf[65536];

	*bad = 0;
	for (i = 0; i < clients; i++) {
		c[i].fd = -1;
		send_get(&c[i], port, path);
	}
	while (done < requests) {
		for (i = 0; i < clients; i++) {
			pf[i].fd = c[i].fd;
			pf[i].events = POLLIN;
		}
		if (poll(pf, (nfds_t)clients, 100) <= 0) {
			if (++idle > 600) {	/* a minute (of the guest's clock) without any answer */
				(*bad)++;
				break;
			}
			for (i = 0; i < clients; i++)
				if (c[i].fd < 0)
					send_get(&c[i], port, path);
			continue;
		}
		idle = 0;
		for (i = 0; i < clients; i++) {
			ssize_t n;

			if (c[i].fd < 0) {
				send_get(&c[i], port, path);
				continue;
			}
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(c[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				close(c[i].fd);
				c[i].fd = -1;
				if (c[i].hlen || c[i].got)
					(*bad)++;	/* closed mid-response */
				send_get(&c[i], port, path);
				continue;
			}
			if (!c[i].want) {
				size_t take = (size_t)n < sizeof(c[i].hdr) - 1 - c[i].hlen ? (size_t)n : sizeof(c[i].hdr) - 1 - c[i].hlen;
				char *e, *cl;

				memcpy(c[i].hdr + c[i].hlen, buf, take);
				c[i].hlen += take;
				c[i].hdr[c[i].hlen] = 0;
				e = strstr(c[i].hdr, "\r\n\r\n");
				if (!e)
					continue;
				cl = strcasestr(c[i].hdr, "content-length:");
				if (strncmp(c[i].hdr, "HTTP/1.", 7) || strncmp(c[i].hdr + 9, "200", 3) || !cl ||
				    (size_t)atol(cl + 15) != body)
					(*bad)++;
				c[i].keep = !strcasestr(c[i].hdr, "connection: close") && strncmp(c[i].hdr, "HTTP/1.0", 8);
				c[i].want = (size_t)(e + 4 - c[i].hdr) + body;
				c[i].got = c[i].hlen - take + (size_t)n;	/* bytes of this response so far */
			} else {
				c[i].got += (size_t)n;
			}
			if (c[i].want && c[i].got >= c[i].want) {
				done++;
				if (!c[i].keep) {
					close(c[i].fd);
					c[i].fd = -1;
				}
				send_get(&c[i], port, path);
			}
		}
	}
	for (i = 0; i < clients; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free(c);
	free(pf);
	return (double)done / ((double)(now_ns() - t0) / 1e9);
}

/*
 * The same load through ApacheBench (`ab -k -n REQUESTS -c CLIENTS`, keep-alive like load() above):
 * req/s as ab reports them (its own clock, the guest's).  *bad counts what ab calls failed (connect,
 * receive, a length other than the first response's, exceptions) and non-2xx responses; an ab that
 * did not finish is one more.
 */
static double load_ab(const char *ab, int port, const char *path, int clients, long requests, int *bad)
{
	char url[512], n[32], c[32], *argv[10], *s;
	struct run r;
	double rps = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	snprintf(n, sizeof(n), "%ld", requests);
	snprintf(c, sizeof(c), "%d", clients);
	argv[0] = (char *)ab;
	argv[1] = "-q";
	argv[2] = "-k";
	argv[3] = "-n";
	argv[4] = n;
	argv[5] = "-c";
	argv[6] = c;
	argv[7] = url;
	argv[8] = NULL;
	*bad = 0;
	run_child(argv, NULL, NULL, &r);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 || !(s = strstr(r.out, "Requests per second:"))) {
		printf("ab did not finish:\n%.1500s%.1500s\n", r.out, r.err);
		(*bad)++;
	} else {
		rps = strtod(s + strlen("Requests per second:"), NULL);
		if ((s = strstr(r.out, "Failed requests:")))
			*bad += atoi(s + strlen("Failed requests:"));
		if ((s = strstr(r.out, "Non-2xx responses:")))
			*bad += atoi(s + strlen("Non-2xx responses:"));
		if ((s = strstr(r.out, "Complete requests:")) && atol(s + strlen("Complete requests:")) != requests)
			(*bad)++;
	}
	free_run(&r);
	return rps;
}

static bool wait_port(int port, pid_t server, double seconds)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);

	while (now_ns() < end) {
		int fd = connect_to(port), st;

		if (fd >= 0) {
			close(fd);
			return true;
		}
		if (waitpid(server, &st, WNOHANG) == server)
			return false;
		usleep(100000);
	}
	return false;
}

/* One GET, whole response, for the byte-for-byte check of what the server sends. */
static char *fetch(int port, const char *path, size_t *len)
{
	int fd = connect_to(port);
	char req[512], *buf = malloc(1 << 22);
	size_t n = 0;
	ssize_t r;

	*len = 0;
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		free(buf);
		return NULL;
	}
	while (n < (1 << 22) && (r = read(fd, buf + n, (1 << 22) - n)) > 0)
		n += (size_t)r;
	close(fd);
	*len = n;
	return buf;
}

/*
 * sbx-run web NAME --port P --path /file --body BYTES --www DIR [--clients 1,8] [--requests N] [--reps N]
 *                 [--policy P] [--mkdir DIR]... [--write FILE TEXT]... [--ab PATH] -- SERVER ARGS...
 * Serves a generated file of BYTES from DIR with SERVER natively, then under dune-sandbox; a closed-loop
 * load of N requests for each client count (ApacheBench at PATH with --ab, else load() above); the body
 * must come back byte for byte; req/s are emitted as NAME-1 (one client) and NAME-many (the other
 * count), variants linux and dune.
 */
static int do_web(int argc, char **argv)
{
	const char *name = argv[0], *path = "/index.html", *www = "/tmp/sbx-www", *policy = "webserver";
	int port = 8080, reps = 2, clients[8] = { 1 }, nclients = 1, i, k, v, ns = 0;
	double rps[2][8][16];
	long requests = 200;
	long body = 4096;
	char **prog = NULL, *sargv[MAXARGS + 16], sandbox[4200], file[4200], logp[] = "/tmp/sbx-run-log-XXXXXX";
	char *ref = NULL;
	const char *ab = NULL;
	size_t reflen = 0;
	int lfd;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			prog = argv + i + 1;
			break;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--path") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--body") && i + 1 < argc)
			body = atol(argv[++i]);
		else if (!strcmp(argv[i], "--www") && i + 1 < argc)
			www = argv[++i];
		else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
			requests = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--policy") && i + 1 < argc)
			policy = argv[++i];
		else if (!strcmp(argv[i], "--ab") && i + 1 < argc)
			ab = argv[++i];
		else if (!strcmp(argv[i], "--write") && i + 2 < argc) {
			write_file(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (!strcmp(argv[i], "--mkdir") && i + 1 < argc)
			mkdir(argv[++i], 0755);
		else if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
			char *s = argv[++i], *e;

			for (nclients = 0; *s && nclients < 8; s = *e ? e + 1 : e) {
				clients[nclients++] = (int)strtol(s, &e, 10);
				if (e == s)
					break;
			}
		} else {
			fail("web: unknown option %s", argv[i]);
			return 1;
		}
	}
	if (!prog || !prog[0] || reps < 1 || reps > 16) {
		fail("web: usage: sbx-run web NAME [options] -- SERVER ARGS");
		return 1;
	}
	if (prog[0][0] == '/' && access(prog[0], X_OK)) {
		fail("%s: %s is not in this guest", name, prog[0]);
		return 1;
	}
	if (ab && access(ab, X_OK)) {
		fail("%s: the load generator %s is not in this guest", name, ab);
		return 1;
	}
	mkdir(www, 0755);
	snprintf(file, sizeof(file), "%s%s", www, path);
	gen(file, body);
	{
		struct stat st;

		if (stat(file, &st)) {
			fail("%s: cannot create %s", name, file);
			return 1;
		}
		body = (long)st.st_size;
		ref = slurp(file, &reflen);
	}
	lfd = mkstemp(logp);
	close(lfd);
	snprintf(sandbox, sizeof(sandbox), "%s/dune-sandbox", here);
	sargv[ns++] = sandbox;
	sargv[ns++] = "--policy";
	sargv[ns++] = (char *)policy;
	sargv[ns++] = "--log";
	sargv[ns++] = logp;
	sargv[ns++] = "--";
	for (k = 0; prog[k] && k < MAXARGS; k++)
		sargv[ns++] = prog[k];
	sargv[ns] = NULL;

	for (i = 0; i < reps; i++)
		for (v = 0; v < 2; v++) {
			char outp[] = "/tmp/sbx-web-out-XXXXXX";
			int of = mkstemp(outp), st, bad = 0;
			size_t blen;
			char *got;
			pid_t pid;

			fflush(stdout);
			pid = fork();
			if (pid == 0) {
				int nul = open("/dev/null", O_RDONLY);

				dup2(nul, 0);
				dup2(of, 1);
				dup2(of, 2);
				execvp(v ? sargv[0] : prog[0], v ? sargv : prog);
				_exit(127);
			}
			close(of);
			if (!wait_port(port, pid, 300)) {
				size_t l;
				char *o = slurp(outp, &l);

				fail("%s: the %s server did not listen on port %d:\n%.2000s", name, v ? "sandboxed" : "native",
				     port, o);
				free(o);
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				unlink(outp);
				return 1;
			}
			got = fetch(port, path, &blen);
			if (!got || blen < reflen || memcmp(got + blen - reflen, ref, reflen) || !strstr(got, " 200 ")) {
				fail("%s: the %s server's response is not the file (%zu bytes for a %zu-byte file)", name,
				     v ? "sandboxed" : "native", got ? blen : 0, reflen);
				if (got)
					printf("  it began: %.300s\n", got);
			}
			free(got);
			for (k = 0; k < nclients; k++) {
				rps[v][k][i] = ab ? load_ab(ab, port, path, clients[k], requests, &bad)
						  : load(port, path, (size_t)body, clients[k], requests, &bad);
				if (bad)
					fail("%s: %d bad responses from the %s server with %d clients", name, bad,
					     v ? "sandboxed" : "native", clients[k]);
			}
			kill(pid, SIGTERM);
			if (waitpid(pid, &st, 0) != pid)
				fail("%s: the server did not stop", name);
			unlink(outp);
		}
	for (k = 0; k < nclients; k++) {
		char mname[128];
		double med[2];

		/* one client, and "many" (the paper's 100; fewer under an emulator) */
		snprintf(mname, sizeof(mname), "%s-%s", name, clients[k] == 1 ? "1" : "many");
		metric(mname, "linux", "req/s", rps[0][k], reps, NULL);
		metric(mname, "dune", "req/s", rps[1][k], reps, NULL);
		for (v = 0; v < 2; v++) {
			double tmp[16];

			memcpy(tmp, rps[v][k], sizeof(double) * (size_t)reps);
			for (i = 1; i < reps; i++) {	/* insertion sort: a median of a few */
				double x = tmp[i];
				int j = i - 1;

				for (; j >= 0 && tmp[j] > x; j--)
					tmp[j + 1] = tmp[j];
				tmp[j + 1] = x;
			}
			med[v] = tmp[reps / 2];
		}
		printf("%s: %d client(s): %.1f req/s native, %.1f sandboxed (%+.1f%%)\n", name, clients[k], med[0], med[1],
		       med[0] > 0 ? 100.0 * (med[1] - med[0]) / med[0] : 0.0);
	}
	{
		size_t len;
		char *log = slurp(logp, &len);

		if (strstr(log, "\"decision\":\"deny\""))
			printf("%s: the sandbox denied calls; the log:\n%.3000s\n", name, log);
		free(log);
		unlink(logp);
	}
	free(ref);
	if (!failures)
		printf("PASS %s: the same file served natively and sandboxed, %d reps\n", name, reps);
	return failures ? 1 : 0;
}

/* ------------------------------------------------------- policy errors */

static int do_policy_error(int argc, char **argv)
{
	char path[] = "/tmp/sbx-policy-XXXXXX.yaml", sandbox[4200], *sargv[8];
	struct run r;
	int fd;

	if (argc < 2) {
		fail("policy-error: usage: sbx-run policy-error TEXT EXPECTED");
		return 1;
	}
	fd = mkstemps(path, 5);
	if (fd < 0 || write(fd, argv[0], strlen(argv[0])) < 0) {
		fail("cannot write the policy");
		return 1;
	}
	close(fd);
	snprintf(sandbox, sizeof(sandbox), "%s/dune-sandbox", here);
	sargv[0] = sandbox;
	sargv[1] = "--policy";
	sargv[2] = path;
	sargv[3] = "--";
	sargv[4] = "/bin/true";
	sargv[5] = NULL;
	run_child(sargv, NULL, NULL, &r);
	printf("dune-sandbox said: %s", r.err);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 125)
		fail("a bad policy must end dune-sandbox with status 125");
	if (!strstr(r.err, path) || !strstr(r.err, argv[1]))
		fail("the message must name the file and say \"%s\"", argv[1]);
	unlink(path);
	free_run(&r);
	if (!failures)
		printf("PASS policy-error: refused with file, line and field\n");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", here, sizeof(here) - 1);
	char *slash;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n <= 0)
		return 2;
	here[n] = 0;
	slash = strrchr(here, '/');
	if (slash)
		*slash = 0;
	if (argc >= 3 && !strcmp(argv[1], "compare"))
		return do_compare(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "hostile"))
		return do_hostile(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "web"))
		return do_web(argc - 2, argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "policy-error"))
		return do_policy_error(argc - 2, argv + 2);
	fprintf(stderr, "usage: sbx-run compare|hostile|web|policy-error ...\n");
	return 2;
}
