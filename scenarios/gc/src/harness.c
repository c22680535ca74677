/* The GC scenario's harness: modes, back-end proof, timing, metrics.  See harness.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dune.h>

#include "dune_vdb.h"
#include "harness.h"

enum mode { M_STW, M_MPROTECT, M_SOFT, M_DUNE, M_STW_DUNE, M_CLIENT_ALL, M_CLIENT_NONE };

static const struct {
	const char *name;
	enum mode mode;
	int incremental;
	int in_dune;
	const char *backend;	/* what GC_get_vdb_stats must say */
} modes[] = {
	{ "stw",         M_STW,         0, 0, "none" },
	{ "mprotect",    M_MPROTECT,    1, 0, "mprotect" },
	{ "soft-dirty",  M_SOFT,        1, 0, "soft-dirty" },
	{ "dune",        M_DUNE,        1, 1, "dune" },
	{ "stw-dune",    M_STW_DUNE,    0, 1, "none" },
	{ "client-all",  M_CLIENT_ALL,  1, 0, "test-all" },
	{ "client-none", M_CLIENT_NONE, 1, 0, "test-none" },
};
#define NMODES (int)(sizeof(modes) / sizeof(modes[0]))

#define MAX_DIRTY_SAMPLES 4096

static struct {
	const char *bench;
	int m;				/* index into modes[] */
	struct gcx_param *params;
	int nparams;
	uint64_t t_begin, t_end;
	/* collector work, from GC_set_on_gc_work */
	uint64_t work_start, gc_ns, max_pause_ns;
	unsigned long pauses;
	unsigned long last_reads;
	unsigned long ndirty;
	unsigned long dirty[MAX_DIRTY_SAMPLES];	/* heap pages dirty, per read */
	unsigned long gc_no_begin;
	unsigned long test_passes;	/* client-all / client-none */
} H;

uint64_t gcx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

const char *gcx_mode(void)
{
	return modes[H.m].name;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s mode=%s: ", H.bench, H.m >= 0 ? modes[H.m].name : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

/* ---------------------------------------------------------------- test-only clients */

static int GC_CALLBACK test_init(void *data)
{
	(void)data;
	return 1;
}

static void GC_CALLBACK test_all_range(void *data, void *start, void *end,
				       GC_vdb_report_proc report, void *report_data)
{
	uintptr_t p = (uintptr_t)start & ~4095UL;

	(void)data;
	for (; p < (uintptr_t)end; p += 4096)
		report((void *)p, report_data);
}

static void GC_CALLBACK test_none_range(void *data, void *start, void *end,
					GC_vdb_report_proc report, void *report_data)
{
	(void)data; (void)start; (void)end; (void)report; (void)report_data;
}

static void GC_CALLBACK test_done(void *data)
{
	(void)data;
	H.test_passes++;
}

static const struct GC_vdb_client test_all_client = {
	"test-all", test_init, test_all_range, test_done, NULL
};
static const struct GC_vdb_client test_none_client = {
	"test-none", test_init, test_none_range, test_done, NULL
};

/* ---------------------------------------------------------------- measurement */

static void GC_CALLBACK on_gc_work(int begin)
{
	if (begin) {
		H.work_start = gcx_now_ns();
		return;
	}
	{
		uint64_t d = gcx_now_ns() - H.work_start;
		struct GC_vdb_stats st;

		H.gc_ns += d;
		H.pauses++;
		if (d > H.max_pause_ns)
			H.max_pause_ns = d;
		GC_get_vdb_stats(&st);		/* lock-free read of counters */
		if (st.reads != H.last_reads) {
			H.last_reads = st.reads;
			if (H.ndirty < MAX_DIRTY_SAMPLES)
				H.dirty[H.ndirty++] = st.heap_pages_dirty_last;
		}
	}
}

/* Does this process hold /proc/<self>/<name> open (soft-dirty's own evidence)? */
static int holds_proc_file(const char *name)
{
	char want[64], path[300], target[256];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int found = 0;
	ssize_t n;

	if (!d)
		return 0;
	snprintf(want, sizeof(want), "/proc/%ld/%s", (long)getpid(), name);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, want))
			found = 1;
	}
	closedir(d);
	return found;
}

/* ---------------------------------------------------------------- setup */

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	int i;

	fprintf(stderr, "usage: %s --mode MODE", H.bench);
	for (i = 0; i < H.nparams; i++)
		fprintf(stderr, " [--%s N (%ld)]", H.params[i].name, H.params[i].value);
	fprintf(stderr, "\nMODE:");
	for (i = 0; i < NMODES; i++)
		fprintf(stderr, " %s", modes[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

static void check_static_backend(void)
{
	struct GC_vdb_stats st;
	int inc = GC_is_incremental_mode();

	GC_get_vdb_stats(&st);
	if (inc != modes[H.m].incremental)
		fail("collector incremental=%d, wanted %d", inc, modes[H.m].incremental);
	if (strcmp(st.backend, modes[H.m].backend))
		fail("collector uses dirty-bit back end '%s', wanted '%s'", st.backend, modes[H.m].backend);
	if (modes[H.m].in_dune != dune_vdb_in_dune())
		fail("running %s Dune mode, wanted %s", dune_vdb_in_dune() ? "in" : "outside",
		     modes[H.m].in_dune ? "in" : "outside");
	switch (modes[H.m].mode) {
	case M_MPROTECT:
		if (!(GC_incremental_protection_needs() & GC_PROTECTS_POINTER_HEAP))
			fail("mprotect back end does not write-protect the heap");
		break;
	case M_SOFT:
		if (GC_incremental_protection_needs() != GC_PROTECTS_NONE)
			fail("soft-dirty back end would write-protect the heap");
		if (!holds_proc_file("pagemap") || !holds_proc_file("clear_refs"))
			fail("soft-dirty back end without /proc/self/pagemap and clear_refs open");
		break;
	case M_DUNE:
	case M_CLIENT_ALL:
	case M_CLIENT_NONE:
		if (GC_incremental_protection_needs() != GC_PROTECTS_NONE)
			fail("client back end would write-protect the heap");
		break;
	default:
		break;
	}
}

void gcx_setup(const char *bench, int argc, char **argv, struct gcx_param *params, int nparams)
{
	const char *mode = NULL;
	int i, j;

	H.bench = bench;
	H.m = -1;
	H.params = params;
	H.nparams = nparams;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "--", 2) || i + 1 >= argc)
			usage();
		a += 2;
		if (!strcmp(a, "mode")) {
			mode = argv[++i];
			continue;
		}
		for (j = 0; j < nparams; j++) {
			if (!strcmp(a, params[j].name)) {
				char *end;

				errno = 0;
				params[j].value = strtol(argv[++i], &end, 0);
				if (errno || *end || params[j].value < 0)
					usage();
				break;
			}
		}
		if (j == nparams)
			usage();
	}
	if (!mode)
		usage();
	for (i = 0; i < NMODES; i++)
		if (!strcmp(mode, modes[i].name))
			H.m = i;
	if (H.m < 0)
		usage();

	/* Nothing from the environment may choose for us. */
	unsetenv("GC_ENABLE_INCREMENTAL");
	unsetenv("GC_DISABLE_INCREMENTAL");
	unsetenv("GC_USE_GETWRITEWATCH");

	if (modes[H.m].in_dune) {
		int r = dune_init_and_enter();

		if (r)
			fail("dune_init_and_enter: %d (%s)", r, strerror(r < 0 ? -r : r));
	}
	switch (modes[H.m].mode) {
	case M_MPROTECT:
		/* bdwgc tries soft-dirty first unless this says 0 */
		setenv("GC_USE_GETWRITEWATCH", "0", 1);
		break;
	case M_SOFT:
		setenv("GC_USE_GETWRITEWATCH", "1", 1);
		break;
	case M_DUNE:
		if (GC_set_vdb_client(&dune_vdb_client))
			fail("GC_set_vdb_client refused");
		break;
	case M_CLIENT_ALL:
		GC_set_vdb_client(&test_all_client);
		break;
	case M_CLIENT_NONE:
		GC_set_vdb_client(&test_none_client);
		break;
	default:
		break;
	}
	/* GC_enable_incremental() before GC_INIT(): the dirty-bit back end is chosen in
	 * GC_init (afterwards it would be bdwgc's manual VDB if that were allowed). */
	if (modes[H.m].incremental)
		GC_enable_incremental();
	GC_INIT();
	GC_set_on_gc_work(on_gc_work);
	check_static_backend();
}

void gcx_begin(void)
{
	H.gc_no_begin = (unsigned long)GC_get_gc_no();
	H.gc_ns = H.max_pause_ns = 0;
	H.pauses = 0;
	H.ndirty = 0;
	H.t_begin = gcx_now_ns();
}

void gcx_end(void)
{
	H.t_end = gcx_now_ns();
}

/* ---------------------------------------------------------------- report */

static void params_json(char *buf, size_t len)
{
	size_t o = 0;
	int i;

	o += (size_t)snprintf(buf + o, len - o, "{");
	for (i = 0; i < H.nparams && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s\"%s\": %ld", i ? ", " : "",
				      H.params[i].name, H.params[i].value);
	if (o < len)
		snprintf(buf + o, len - o, "}");
}

static void metric(const char *what, const char *unit, const char *samples, const char *events)
{
	char params[512];

	params_json(params, sizeof(params));
	printf("DUNELAB-METRIC {\"name\": \"%s_%s\", \"variant\": \"%s\", \"unit\": \"%s\", "
	       "\"samples\": [%s], \"overhead\": 0, \"ops_per_sample\": 1, \"params\": %s%s%s}\n",
	       H.bench, what, modes[H.m].name, unit, samples, params,
	       events ? ", \"events\": " : "", events ? events : "");
}

static const char *ms(uint64_t ns, char *buf, size_t len)
{
	snprintf(buf, len, "%.3f", (double)ns / 1e6);
	return buf;
}

int gcx_finish(int ok, const char *why)
{
	struct GC_vdb_stats st;
	unsigned long collections = (unsigned long)GC_get_gc_no() - H.gc_no_begin;
	char a[64], b[256];
	static char samples[MAX_DIRTY_SAMPLES * 12];
	size_t o = 0;
	unsigned long i;

	GC_get_vdb_stats(&st);
	printf("GC-BACKEND bench=%s mode=%s backend=%s incremental=%d in_dune=%d collections=%lu "
	       "reads=%lu heap_pages_dirty=%lu write_faults=%lu protect_passes=%lu "
	       "dune_passes=%lu dune_ranges=%lu dune_leaves=%lu dune_pages=%lu dune_big_dirty=%lu "
	       "dune_big_split=%lu dune_flushes=%lu test_passes=%lu heap_bytes=%lu\n",
	       H.bench, modes[H.m].name, st.backend, GC_is_incremental_mode(), dune_vdb_in_dune(),
	       collections, st.reads, st.heap_pages_dirty, st.write_faults, st.protect_passes,
	       dune_vdb_stats.passes, dune_vdb_stats.ranges, dune_vdb_stats.leaves,
	       dune_vdb_stats.pages_reported, dune_vdb_stats.big_dirty, dune_vdb_stats.big_split,
	       dune_vdb_stats.flushes, H.test_passes, (unsigned long)GC_get_heap_size());

	/* The same static checks again (nothing switched back ends under us) ... */
	check_static_backend();
	/* ... and each back end's own evidence that it did the work. */
	if (!ok)
		fail("%s", why ? why : "benchmark check failed");
	if (collections == 0)
		fail("no collection happened during the run: parameters too small to measure a collector");
	if (modes[H.m].incremental && st.reads == 0)
		fail("incremental mode but the collector never read dirty bits");
	switch (modes[H.m].mode) {
	case M_STW:
	case M_STW_DUNE:
		if (st.reads || st.write_faults || st.protect_passes)
			fail("stop-the-world run read dirty bits");
		break;
	case M_MPROTECT:
		if (!st.protect_passes || !st.write_faults)
			fail("mprotect back end: %lu protect passes, %lu write faults", st.protect_passes,
			     st.write_faults);
		break;
	case M_SOFT:
		if (st.write_faults || st.protect_passes)
			fail("soft-dirty back end took write faults");
		break;
	case M_DUNE:
		if (st.write_faults || st.protect_passes)
			fail("dune back end took write faults");
		if (dune_vdb_stats.passes < st.reads || !dune_vdb_stats.leaves)
			fail("dune provider: %lu passes for %lu collector reads, %lu leaves walked",
			     dune_vdb_stats.passes, st.reads, dune_vdb_stats.leaves);
		if (dune_vdb_stats.split_failed)
			fail("dune provider: %lu 2 MiB pages could not be split", dune_vdb_stats.split_failed);
		break;
	case M_CLIENT_ALL:
	case M_CLIENT_NONE:
		if (H.test_passes < st.reads)
			fail("test client: %lu passes for %lu reads", H.test_passes, st.reads);
		break;
	}

	metric("total", "ms", ms(H.t_end - H.t_begin, a, sizeof(a)), NULL);
	snprintf(b, sizeof(b), "{\"ops\": %lu, \"pauses\": %lu}", collections, H.pauses);
	metric("gc", "ms", ms(H.gc_ns, a, sizeof(a)), b);
	snprintf(a, sizeof(a), "%lu", collections);
	metric("collections", "count", a, NULL);
	metric("max_pause", "ms", ms(H.max_pause_ns, a, sizeof(a)), NULL);
	if (modes[H.m].incremental) {
		for (i = 0; i < H.ndirty && o < sizeof(samples) - 24; i++)
			o += (size_t)snprintf(samples + o, sizeof(samples) - o, "%s%lu", i ? ", " : "",
					      H.dirty[i]);
		samples[o] = 0;
		snprintf(b, sizeof(b), "{\"ops\": %lu, \"heap_pages_dirty\": %lu, \"write_faults\": %lu, "
			 "\"tlb_flushes\": %lu}", st.reads, st.heap_pages_dirty, st.write_faults,
			 dune_vdb_stats.flushes);
		metric("dirty_pages", "count", samples, b);
	}
	printf("PASS %s mode=%s backend=%s collections=%lu total_ms=%.1f gc_ms=%.1f\n", H.bench,
	       modes[H.m].name, st.backend, collections, (double)(H.t_end - H.t_begin) / 1e6,
	       (double)H.gc_ns / 1e6);
	return 0;
}
