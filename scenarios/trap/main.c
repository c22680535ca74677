/*
 * trap - the paper's trap-heavy microbenchmarks (Dune, OSDI'12, Table 2 and
 * the Appel & Li rows), each on Linux and in Dune with the same timing.
 *
 *   trap MEASURE --mode linux|dune [--n N] [--pages P] [--rounds R] [--span-mb M]
 *
 * MEASURE: getpid interpose pgfault trap pagewalk appel1 appel2 (README.md).
 * Prints exactly one DUNELAB-METRIC line (scenario contract), then
 * "PASS trap MEASURE MODE" and exits 0; on any error "FAIL why", exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "timing.h"
#include "trap.h"

static const struct {
	const char *name;
	measure_fn linux_fn, dune_fn;
} measures[] = {
	{ "getpid", linux_getpid, dune_getpid },
	{ "interpose", linux_interpose, dune_interpose },
	{ "pgfault", linux_pgfault, dune_pgfault },
	{ "trap", linux_trap, dune_trap },
	{ "pagewalk", linux_pagewalk, dune_pagewalk },
	{ "appel1", linux_appel1, dune_appel1 },
	{ "appel2", linux_appel2, dune_appel2 },
};

static const char *const ret_names[DUNE_STATS_RETURNS] = {
	"errno", "exit", "ept_violation", "interrupt", "signal", "unhandled_vmexit", "noenter", "syscall",
};

/* ------------------------------------------------------------ output */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fail("formatting the metric line");
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			fail("out of memory for the metric line");
	}
}

/* One write loop: no stdio buffering (fail() may end the process from a handler). */
static void write_all(const char *p, size_t n)
{
	while (n) {
		long w = dune_syscall6(SYS_write, 1, (long)p, (long)n, 0, 0, 0);

		if (w == -EINTR)
			continue;
		if (w <= 0)
			exit(1);
		p += w;
		n -= (size_t)w;
	}
}

static void put_param(struct buf *b, const struct params *p, const char *key, bool *first)
{
	long v;

	if (!strcmp(key, "n"))
		v = p->n;
	else if (!strcmp(key, "pages"))
		v = p->pages;
	else if (!strcmp(key, "rounds"))
		v = p->rounds;
	else if (!strcmp(key, "span_mb"))
		v = p->span_mb;
	else
		fail("unknown parameter key %s", key);
	put(b, "%s\"%s\": %ld", *first ? "" : ", ", key, v);
	*first = false;
}

static void put_events(struct buf *b, const struct result *r)
{
	const struct dune_stats *e = &r->events;
	bool first = true;
	unsigned int i;

	put(b, ", \"events\": {\"ops\": %" PRIu64 ", \"exits\": {", r->ops);
	for (i = 0; i < DUNE_STATS_EXIT_REASONS; i++) {
		const char *name = dune_exit_reason_name(i);

		if (!e->exit_reasons[i])
			continue;
		if (name)
			put(b, "%s\"%s\": %llu", first ? "" : ", ", name, (unsigned long long)e->exit_reasons[i]);
		else
			put(b, "%s\"REASON_%u\": %llu", first ? "" : ", ", i, (unsigned long long)e->exit_reasons[i]);
		first = false;
	}
	if (e->exits_other)
		put(b, "%s\"OTHER\": %llu", first ? "" : ", ", (unsigned long long)e->exits_other);
	put(b, "}, \"exits_total\": %llu", (unsigned long long)e->exits);
#define FIELD(f) put(b, ", \"" #f "\": %llu", (unsigned long long)e->f)
	FIELD(entries);
	FIELD(entry_failures);
	FIELD(ioctl_returns);
	FIELD(msr_writes);
	FIELD(fpu_loads);
	FIELD(ept_violations);
	FIELD(ept_pages_mapped);
	FIELD(invepts);
	FIELD(invvpids);
	FIELD(vmcs_loads);
	FIELD(interrupts_injected);
	FIELD(exceptions_injected);
	FIELD(events_reinjected);
#undef FIELD
	for (i = 0; i < DUNE_STATS_RETURNS; i++)
		put(b, ", \"returns_%s\": %llu", ret_names[i], (unsigned long long)e->returns[i]);
	put(b, "}");
}

static void print_metric(const char *measure, const char *mode, const struct params *p,
			 const struct result *r)
{
	struct buf b = { NULL, 0, 0 };
	char keys[64], *save = NULL, *k;
	bool first = true;
	size_t i;

	put(&b, "DUNELAB-METRIC {\"name\": \"%s\", \"variant\": \"%s\", \"unit\": \"tsc\", \"samples\": [",
	    measure, mode);
	for (i = 0; i < r->nsamples; i++)
		put(&b, "%s%" PRIu64, i ? ", " : "", r->samples[i]);
	put(&b, "], \"overhead\": %" PRIu64 ", \"ops_per_sample\": %ld, \"params\": {",
	    r->overhead, r->ops_per_sample);
	snprintf(keys, sizeof(keys), "%s", r->param_keys);
	for (k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save))
		put_param(&b, p, k, &first);
	put(&b, "}");
	if (r->has_events)
		put_events(&b, r);
	put(&b, "}\n");
	write_all(b.p, b.len);
	free(b.p);
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr, "usage: trap MEASURE --mode linux|dune [--n N] [--pages P] [--rounds R] [--span-mb M]\n"
			"MEASURE: getpid interpose pgfault trap pagewalk appel1 appel2\n");
	printf("FAIL usage\n");
	exit(1);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		fail("%s: %s is not an integer in [%ld, %ld]", opt, s, min, max);
	return v;
}

int main(int argc, char **argv)
{
	struct params p = { .n = 10000, .pages = 100, .rounds = 100, .span_mb = 64 };
	struct result r;
	const char *mode = NULL;
	measure_fn fn = NULL;
	size_t m;
	int i, err;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		usage();
	for (m = 0; m < sizeof(measures) / sizeof(measures[0]); m++)
		if (!strcmp(argv[1], measures[m].name))
			break;
	if (m == sizeof(measures) / sizeof(measures[0]))
		fail("unknown measure %s (getpid interpose pgfault trap pagewalk appel1 appel2)", argv[1]);
	for (i = 2; i < argc; i++) {
		const char *opt = argv[i];

		if (i + 1 >= argc)
			fail("%s needs a value", opt);
		if (!strcmp(opt, "--mode"))
			mode = argv[++i];
		else if (!strcmp(opt, "--n"))
			p.n = parse_long(opt, argv[++i], 1, 100000000);
		else if (!strcmp(opt, "--pages"))
			p.pages = parse_long(opt, argv[++i], 1, 1000000);
		else if (!strcmp(opt, "--rounds"))
			p.rounds = parse_long(opt, argv[++i], 1, 100000000);
		else if (!strcmp(opt, "--span-mb"))
			p.span_mb = parse_long(opt, argv[++i], 1, 65536);
		else
			fail("unknown option %s", opt);
	}
	if (!mode)
		fail("--mode linux|dune is required");
	if (!strcmp(mode, "linux")) {
		fn = measures[m].linux_fn;
	} else if (!strcmp(mode, "dune")) {
		fn = measures[m].dune_fn;
		err = dune_init_and_enter();
		if (err)
			fail("dune_init_and_enter: %d (%s)", err, strerror(-err));
		events_calibrate();
	} else {
		fail("--mode must be linux or dune, not %s", mode);
	}

	memset(&r, 0, sizeof(r));
	fn(&p, &r);
	if (!r.nsamples)
		fail("%s/%s produced no samples", measures[m].name, mode);
	print_metric(measures[m].name, mode, &p, &r);
	printf("PASS trap %s %s samples=%zu overhead=%" PRIu64 "\n", measures[m].name, mode, r.nsamples,
	       r.overhead);
	return 0;
}
