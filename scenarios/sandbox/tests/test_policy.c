/* test_policy.c - the YAML subset and the policy format: what parses, and that every mistake is
 * named by file, line, field and reason. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "test.h"
#include "policy.h"
#include "yaml.h"

static struct y_node *yparse(const char *s, struct y_error *e)
{
	return y_parse(s, strlen(s), e);
}

static void yaml_block_structures(void)
{
	struct y_error e;
	struct y_node *n = yparse("# comment\n"
				  "a: 1\n"
				  "b:\n"
				  "  c: two words  # trailing comment\n"
				  "  d: [x, \"y z\", 'it''s']\n"
				  "e:\n"
				  "  - one\n"
				  "  - k: v\n"
				  "    k2: v2\n"
				  "  -\n"
				  "    - nested\n"
				  "f:\n"
				  "- same-indent item\n"
				  "g: {p: 1, q: [a, b]}\n"
				  "h: \"esc \\\"q\\\" \\n \\x41\"\n"
				  "i: '#not a comment'\n"
				  "j:\n", &e);
	struct y_node *b, *d, *l, *m;

	CHECK_MSG(n != NULL, "%d:%d %s", e.line, e.col, e.msg);
	if (!n)
		return;
	CHECK(n->kind == Y_MAP && n->n == 8);
	CHECK(!strcmp(y_get(n, "a")->str, "1") && !y_get(n, "a")->quoted);
	b = y_get(n, "b");
	CHECK(b && b->kind == Y_MAP && !strcmp(y_get(b, "c")->str, "two words"));
	d = y_get(b, "d");
	CHECK(d && d->kind == Y_SEQ && d->n == 3 && !strcmp(d->items[1]->str, "y z") && d->items[1]->quoted &&
	      !strcmp(d->items[2]->str, "it's"));
	l = y_get(n, "e");
	CHECK(l && l->kind == Y_SEQ && l->n == 3);
	if (l && l->n == 3) {
		CHECK(!strcmp(l->items[0]->str, "one"));
		m = l->items[1];
		CHECK(m->kind == Y_MAP && m->n == 2 && !strcmp(y_get(m, "k2")->str, "v2"));
		CHECK(l->items[2]->kind == Y_SEQ && !strcmp(l->items[2]->items[0]->str, "nested"));
	}
	l = y_get(n, "f");
	CHECK(l && l->kind == Y_SEQ && l->n == 1 && !strcmp(l->items[0]->str, "same-indent item"));
	m = y_get(n, "g");
	CHECK(m && m->kind == Y_MAP && y_get(m, "q")->kind == Y_SEQ && y_get(m, "q")->n == 2);
	CHECK(!strcmp(y_get(n, "h")->str, "esc \"q\" \n A"));
	CHECK(!strcmp(y_get(n, "i")->str, "#not a comment"));
	CHECK(y_get(n, "j")->kind == Y_NULL);
	CHECK(y_get(n, "h")->line == 15);
	y_free(n);
}

static void yaml_multiline_flow(void)
{
	struct y_error e;
	struct y_node *n = yparse("allow: [a, b,\n        c, d]\nnext: 1\n", &e);

	CHECK_MSG(n != NULL, "%s", e.msg);
	if (n) {
		CHECK(y_get(n, "allow")->n == 4 && !strcmp(y_get(n, "allow")->items[3]->str, "d"));
		CHECK(!strcmp(y_get(n, "next")->str, "1"));
		y_free(n);
	}
}

struct bad {
	const char *text;
	int line, col;
	const char *msg;
};

static void yaml_errors_have_positions(void)
{
	static const struct bad cases[] = {
		{ "a: 1\n\tb: 2\n", 2, 1, "tab" },
		{ "a: 1\na: 2\n", 2, 1, "duplicate key 'a'" },
		{ "a: &x 1\n", 1, 4, "anchors" },
		{ "a: *x\n", 1, 4, "aliases" },
		{ "a: !tag 1\n", 1, 4, "tags" },
		{ "a: |\n  text\n", 1, 4, "block scalars" },
		{ "a: \"open\n", 1, 4, "unterminated" },
		{ "a: [1, 2\n", 1, 4, "unterminated flow" },
		{ "a:\n  b: 1\n   c: 2\n", 3, 4, "unexpected indentation" },
		{ "a: 1\n---\nb: 2\n", 2, 1, "one YAML document" },
		{ "a: b: c\n", 1, 5, "': '" },
		{ "a: [1 2, 3}\n", 1, 11, "expected ',' or ']'" },
		{ "- a\nb: 1\n", 2, 1, "" },
		{ "a: \"\\q\"\n", 1, 5, "unsupported escape" },
		{ " a: 1\n", 1, 2, "column 1" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct y_error e;
		struct y_node *n = yparse(cases[i].text, &e);

		CHECK_MSG(n == NULL, "case %zu parsed", i);
		y_free(n);
		if (n)
			continue;
		CHECK_MSG(e.line == cases[i].line, "case %zu: line %d, want %d (%s)", i, e.line, cases[i].line, e.msg);
		if (cases[i].col)
			CHECK_MSG(e.col == cases[i].col, "case %zu: col %d, want %d (%s)", i, e.col, cases[i].col, e.msg);
		CHECK_MSG(strstr(e.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, e.msg, cases[i].msg);
	}
}

static struct sbx_policy *ppol(const char *text, struct sbx_policy_error *e)
{
	return sbx_policy_parse(text, strlen(text), "p.yaml", e);
}

static void builtin_policies_load(void)
{
	int i;

	for (i = 0; sbx_builtin_names[i]; i++) {
		struct sbx_policy_error e;
		struct sbx_policy *p = sbx_policy_load(sbx_builtin_names[i], &e);

		CHECK_MSG(p != NULL, "%s: %s", sbx_builtin_names[i], e.msg);
		if (!p)
			continue;
		/* whatever a policy says, the calls that reach around the monitor stay denied */
		CHECK(p->action[SYS_ptrace] != ACT_ALLOW && p->action[SYS_process_vm_writev] != ACT_ALLOW &&
		      p->action[SYS_io_uring_setup] != ACT_ALLOW && p->action[SYS_mount] != ACT_ALLOW);
		CHECK(p->action[SYS_exit_group] == ACT_ALLOW && p->action[SYS_rt_sigreturn] == ACT_ALLOW);
		sbx_policy_free(p);
	}
	CHECK(sbx_builtin_names[0] != NULL);
}

static void policy_files_in_tree_load(void)
{
	DIR *d = opendir(POLICY_DIR);
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[1024];
		struct sbx_policy_error e;
		struct sbx_policy *p;

		if (!strstr(de->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", POLICY_DIR, de->d_name);
		p = sbx_policy_load(path, &e);
		CHECK_MSG(p != NULL, "%s", e.msg);
		sbx_policy_free(p);
		n++;
	}
	closedir(d);
	CHECK(n >= 3);
}

static void policy_semantics(void)
{
	struct sbx_policy_error e;
	struct sbx_policy *p = ppol("version: 1\n"
				    "syscalls:\n"
				    "  default: kill\n"
				    "  allow: ['@io', openat, getpid, clone]\n"
				    "  deny: [write]\n"
				    "  kill: [getpid]\n"
				    "files:\n"
				    "  read: [/usr, /usr/share/x/]\n"
				    "  write: ['//tmp//box/']\n"
				    "network: {listen: [8080, 443]}\n"
				    "memory: 64M\n"
				    "processes: true\n"
				    "max_processes: 3\n"
				    "threads: false\n"
				    "exec: false\n", &e);

	CHECK_MSG(p != NULL, "%s", e.msg);
	if (!p)
		return;
	CHECK(p->action[SYS_read] == ACT_ALLOW);	/* from @io */
	CHECK(p->action[SYS_write] == ACT_DENY);	/* deny overrides allow */
	CHECK(p->action[SYS_getpid] == ACT_KILL);
	CHECK(p->action[SYS_uname] == ACT_KILL);	/* the default */
	CHECK(p->action[SYS_exit] == ACT_ALLOW);	/* always */
	CHECK(p->nprefixes == 3 && !strcmp(p->prefixes[1].path, "/usr/share/x") &&
	      !strcmp(p->prefixes[2].path, "/tmp/box") && p->prefixes[2].write && !p->prefixes[0].write);
	CHECK(p->network == NET_LISTEN && p->nports == 2 && p->ports[1] == 443);
	CHECK(p->memory == 64ULL << 20 && p->processes && p->max_processes == 3 && !p->threads && !p->exec);
	CHECK(sbx_policy_match(p, "/usr/share/x/y") == &p->prefixes[1]);
	CHECK(sbx_policy_match(p, "/usr/share/xy") == &p->prefixes[0]);	/* component boundary */
	CHECK(sbx_policy_match(p, "/usr") == &p->prefixes[0]);
	CHECK(sbx_policy_match(p, "/usrx") == NULL);
	CHECK(sbx_policy_match(p, "/tmp/box") == &p->prefixes[2]);
	CHECK(sbx_policy_match(p, "/tmp") == NULL);
	sbx_policy_free(p);
}

static void policy_errors_name_file_line_field(void)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "syscalls: {allow: [read]}\n", "p.yaml:1: version: is required" },
		{ "version: 2\nsyscalls: {}\n", "p.yaml:1: version: must be between 1 and 1" },
		{ "version: 1\nsyscals: {}\n", "p.yaml:2: syscals: unknown field" },
		{ "version: 1\nsyscalls:\n  allow: [read, opne]\n", "p.yaml:3: syscalls.allow[1]: unknown system call 'opne'" },
		{ "version: 1\nsyscalls:\n  allow: [ptrace]\n", "p.yaml:3: syscalls.allow[0]: 'ptrace' cannot be allowed" },
		{ "version: 1\nsyscalls:\n  allow: ['@never']\n", "syscalls.allow[0]: group '@never' cannot be allowed" },
		{ "version: 1\nsyscalls:\n  allow: ['@nope']\n", "syscalls.allow[0]: unknown group '@nope'" },
		{ "version: 1\nsyscalls:\n  deny: [exit_group]\n", "syscalls.deny[0]: 'exit_group' cannot be denied" },
		{ "version: 1\nsyscalls:\n  default: allow\n", "p.yaml:3: syscalls.default: must be deny or kill" },
		{ "version: 1\nsyscalls:\n  deny: [read]\n  kill: [read]\n", "p.yaml:4: syscalls.kill[0]: 'read' is also in syscalls.deny" },
		{ "version: 1\nsyscalls: {}\nfiles:\n  read: [usr]\n", "p.yaml:4: files.read[0]: 'usr' must be an absolute path" },
		{ "version: 1\nsyscalls: {}\nfiles:\n  read: [/a/../b]\n", "files.read[0]: '/a/../b' must be an absolute path without" },
		{ "version: 1\nsyscalls: {}\nfiles:\n  read: [/a]\n  write: [/a/]\n", "p.yaml:5: files.write[0]: '/a' is listed twice (in files.read and files.write)" },
		{ "version: 1\nsyscalls: {}\nfiles:\n  exec: [/a]\n", "p.yaml:4: files.exec: unknown field" },
		{ "version: 1\nsyscalls: {}\nnetwork: everything\n", "p.yaml:3: network: must be none, connect or" },
		{ "version: 1\nsyscalls: {}\nnetwork: {listen: [0]}\n", "network.listen[0]: must be between 1 and 65535" },
		{ "version: 1\nsyscalls: {}\nmemory: lots\n", "p.yaml:3: memory: must be a size" },
		{ "version: 1\nsyscalls: {}\nmemory: 1M\n", "p.yaml:3: memory: must be at least 16M" },
		{ "version: 1\nsyscalls: {}\nprocesses: yes\n", "p.yaml:3: processes: must be true or false" },
		{ "version: 1\nsyscalls: {}\nmax_processes: -1\n", "max_processes: must be between 1 and 4096" },
		{ "version: 1\nsyscalls: [read]\n", "p.yaml:2: syscalls: must be a mapping" },
		{ "- a\n", "p.yaml:1: (document): a policy is a mapping" },
		{ "version: 1\nsyscalls:\n\tallow: []\n", "p.yaml:3:1: tab in indentation" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbx_policy_error e;
		struct sbx_policy *p = ppol(cases[i].text, &e);

		CHECK_MSG(p == NULL, "case %zu accepted", i);
		sbx_policy_free(p);
		if (!p)
			CHECK_MSG(strstr(e.msg, cases[i].want) != NULL, "case %zu: got '%s', want '%s'", i, e.msg,
				  cases[i].want);
	}
}

static void policy_load_errors(void)
{
	struct sbx_policy_error e;

	CHECK(sbx_policy_load("nosuch", &e) == NULL && strstr(e.msg, "no built-in policy"));
	CHECK(sbx_policy_load("/nonexistent/p.yaml", &e) == NULL && strstr(e.msg, "/nonexistent/p.yaml:"));
	CHECK(sbx_policy_load("/", &e) == NULL && strstr(e.msg, "not a regular file"));
}

static void sizes_parse(void)
{
	uint64_t v;

	CHECK(!sbx_parse_size("4096", &v) && v == 4096);
	CHECK(!sbx_parse_size("64M", &v) && v == 64ULL << 20);
	CHECK(!sbx_parse_size("2G", &v) && v == 2ULL << 30);
	CHECK(!sbx_parse_size("1GiB", &v) && v == 1ULL << 30);
	CHECK(!sbx_parse_size("8k", &v) && v == 8192);
	CHECK(sbx_parse_size("-1", &v) && sbx_parse_size("1X", &v) && sbx_parse_size("", &v) &&
	      sbx_parse_size("99999999999999999999G", &v) && sbx_parse_size("1MM", &v));
}

TESTS(policy_tests) = {
	T(yaml_block_structures),
	T(yaml_multiline_flow),
	T(yaml_errors_have_positions),
	T(builtin_policies_load),
	T(policy_files_in_tree_load),
	T(policy_semantics),
	T(policy_errors_name_file_line_field),
	T(policy_load_errors),
	T(sizes_parse),
	{ NULL, NULL },
};
