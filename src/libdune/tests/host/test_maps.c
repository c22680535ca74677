/* Host tests for maps.c (/proc/self/maps parser). */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "../../maps.h"

struct collect {
	struct maps_entry e[16];
	int n;
};

static int collect_cb(const struct maps_entry *e, void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		c->e[c->n] = *e;
	c->n++;
	return 0;
}

static const char sample[] =
	"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
	"00651000-00652000 rw-p 00051000 08:02 173521      /usr/bin/my prog (deleted)\n"
	"01f3a000-01f5b000 rw-p 00000000 00:00 0           [heap]\n"
	"7f5c2c000000-7f5c2c021000 ---p 00000000 00:00 0 \n"
	"7f5c2d1e6000-7f5c2d1e8000 rw-s 00000000 00:05 1234 /SYSV00000000 (deleted)\n"
	"7ffd5c2e9000-7ffd5c30a000 rw-p 00000000 00:00 0           [stack]\n"
	"7ffd5c3c8000-7ffd5c3cc000 r--p 00000000 00:00 0           [vvar]\n"
	"7ffd5c3cc000-7ffd5c3ce000 r-xp 00000000 00:00 0           [vdso]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0   [vsyscall]\n"
	"\n";

static void test_sample(void)
{
	struct collect c;

	memset(&c, 0, sizeof(c));
	CHECK_EQ(maps_parse(sample, sizeof(sample) - 1, collect_cb, &c), 0);
	CHECK_EQ(c.n, 9);
	CHECK_EQ(c.e[0].start, 0x400000);
	CHECK_EQ(c.e[0].end, 0x452000);
	CHECK_EQ(c.e[0].prot, MAPS_R | MAPS_X);
	CHECK_EQ(c.e[0].kind, MAPS_KIND_FILE);
	CHECK(c.e[0].path_len == strlen("/usr/bin/dbus-daemon") &&
	      !memcmp(c.e[0].path, "/usr/bin/dbus-daemon", c.e[0].path_len));
	CHECK_EQ(c.e[1].prot, MAPS_R | MAPS_W);
	CHECK(c.e[1].path_len == strlen("/usr/bin/my prog (deleted)"));
	CHECK_EQ(c.e[2].kind, MAPS_KIND_HEAP);
	CHECK_EQ(c.e[3].prot, 0);
	CHECK_EQ(c.e[3].start, 0x7f5c2c000000ULL);
	CHECK_EQ(c.e[4].prot, MAPS_R | MAPS_W | MAPS_SHARED);
	CHECK_EQ(c.e[5].kind, MAPS_KIND_STACK);
	CHECK_EQ(c.e[6].kind, MAPS_KIND_VVAR);
	CHECK_EQ(c.e[7].kind, MAPS_KIND_VDSO);
	CHECK_EQ(c.e[7].prot, MAPS_R | MAPS_X);
	CHECK_EQ(c.e[8].kind, MAPS_KIND_VSYSCALL);
	CHECK_EQ(c.e[8].start, 0xffffffffff600000ULL);
	CHECK_EQ(c.e[8].prot, MAPS_X);
}

static void test_no_trailing_newline(void)
{
	static const char s[] = "1000-2000 r--p 00000000 00:00 0 [anon:x]";
	struct collect c;

	memset(&c, 0, sizeof(c));
	CHECK_EQ(maps_parse(s, sizeof(s) - 1, collect_cb, &c), 0);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.e[0].kind, MAPS_KIND_OTHER);
	CHECK_EQ(c.e[0].end, 0x2000);
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"zzzz-2000 r--p 0 0 0\n",
		"1000 r--p 0 0 0\n",
		"2000-1000 r--p 0 0 0\n",
		"1000-2000\n",
		"11112222333344445-2000 r--p 0 0 0\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct collect c;

		memset(&c, 0, sizeof(c));
		CHECK_EQ(maps_parse(bad[i], strlen(bad[i]), collect_cb, &c), -1);
	}
}

static int stop_cb(const struct maps_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 7;
}

static void test_stop(void)
{
	int n = 0;

	CHECK_EQ(maps_parse(sample, sizeof(sample) - 1, stop_cb, &n), 7);
	CHECK_EQ(n, 1);
}

struct self_arg {
	uintptr_t stackvar, func;
	int stack_ok, func_ok, total;
};

static int self_cb(const struct maps_entry *e, void *arg)
{
	struct self_arg *a = arg;

	a->total++;
	if (a->stackvar >= e->start && a->stackvar < e->end)
		a->stack_ok = e->kind == MAPS_KIND_STACK && (e->prot & MAPS_W);
	if (a->func >= e->start && a->func < e->end)
		a->func_ok = (e->prot & (MAPS_R | MAPS_X)) == (MAPS_R | MAPS_X);
	return 0;
}

static void test_real_self(void)
{
	static char buf[1 << 20];
	struct self_arg a;
	int local = 0, fd = open("/proc/self/maps", O_RDONLY);
	size_t len = 0;
	ssize_t n;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	while ((n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	memset(&a, 0, sizeof(a));
	a.stackvar = (uintptr_t)&local;
	a.func = (uintptr_t)&test_real_self;
	CHECK_EQ(maps_parse(buf, len, self_cb, &a), 0);
	CHECK(a.total > 3);
	CHECK(a.stack_ok);
	CHECK(a.func_ok);
}

const struct test_case maps_tests[] = {
	{ "maps: sample with every kind", test_sample },
	{ "maps: no trailing newline", test_no_trailing_newline },
	{ "maps: malformed lines rejected", test_malformed },
	{ "maps: callback stops the parse", test_stop },
	{ "maps: parse real /proc/self/maps", test_real_self },
	TEST_LIST_END
};
