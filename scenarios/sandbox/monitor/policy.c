/*
 * policy.c - policy files: YAML (yaml.c) to struct sbx_policy, validated.
 * The format is documented in README.md ("Policy format").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "yaml.h"

struct ctx {
	const char *file;
	struct sbx_policy_error *err;
	bool failed;
};

static void perr(struct ctx *c, int line, const char *field, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void perr(struct ctx *c, int line, const char *field, const char *fmt, ...)
{
	char reason[300];
	va_list ap;

	if (c->failed)
		return;
	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(c->err->msg, sizeof(c->err->msg), "%s:%d: %s: %s", c->file, line, field, reason);
}

void sbx_policy_free(struct sbx_policy *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < p->nprefixes; i++)
		free(p->prefixes[i].path);
	free(p->name);
	free(p->description);
	free(p);
}

int sbx_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end) {
		if (end[1] && !(end[1] == 'i' && end[2] == 'B' && !end[3]) && !(end[1] == 'B' && !end[2]))
			return -1;
		switch (*end) {
		case 'K': case 'k': mul = 1ULL << 10; break;
		case 'M': mul = 1ULL << 20; break;
		case 'G': mul = 1ULL << 30; break;
		case 'T': mul = 1ULL << 40; break;
		default: return -1;
		}
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static bool as_bool(struct ctx *c, const struct y_node *n, const char *field, bool *out)
{
	if (n->kind == Y_SCALAR && !n->quoted && !strcmp(n->str, "true"))
		*out = true;
	else if (n->kind == Y_SCALAR && !n->quoted && !strcmp(n->str, "false"))
		*out = false;
	else {
		perr(c, n->line, field, "must be true or false");
		return false;
	}
	return true;
}

static bool as_int(struct ctx *c, const struct y_node *n, const char *field, long min, long max, long *out)
{
	char *end;
	long v;

	if (n->kind != Y_SCALAR || n->quoted || !*n->str) {
		perr(c, n->line, field, "must be an integer");
		return false;
	}
	errno = 0;
	v = strtol(n->str, &end, 10);
	if (errno || *end) {
		perr(c, n->line, field, "must be an integer, got '%s'", n->str);
		return false;
	}
	if (v < min || v > max) {
		perr(c, n->line, field, "must be between %ld and %ld, got %ld", min, max, v);
		return false;
	}
	*out = v;
	return true;
}

static const char *kind_name(enum y_kind k)
{
	return k == Y_MAP ? "a mapping" : k == Y_SEQ ? "a list" : k == Y_NULL ? "empty" : "a scalar";
}

/* Every key of map must be one of allowed (NULL-terminated). */
static bool known_keys(struct ctx *c, const struct y_node *map, const char *prefix, const char *const *allowed)
{
	size_t i;
	int j;

	for (i = 0; i < map->n; i++) {
		bool ok = false;

		for (j = 0; allowed[j]; j++)
			if (!strcmp(map->keys[i], allowed[j]))
				ok = true;
		if (!ok) {
			char list[200] = "", field[128];

			for (j = 0; allowed[j]; j++) {
				strncat(list, j ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, allowed[j], sizeof(list) - strlen(list) - 1);
			}
			snprintf(field, sizeof(field), "%s%s", prefix, map->keys[i]);
			perr(c, map->key_lines[i], field, "unknown field (known: %s)", list);
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------ syscalls */

static const char *why_never(int nr)
{
	const struct sc_desc *d = sbx_syscall(nr);

	if (d->group == G_ADMIN)
		return "it administers the host (group @admin)";
	return "it would reach the monitor's memory or the host around the sandbox (group @never)";
}

/* Apply list `key` (allow, deny or kill) of syscalls: names or @groups. */
static void apply_list(struct ctx *c, struct sbx_policy *p, const struct y_node *sys, const char *key, uint8_t act)
{
	const struct y_node *l = y_get(sys, key);
	char field[64];
	size_t i;
	int nr;

	if (!l || l->kind == Y_NULL)
		return;
	snprintf(field, sizeof(field), "syscalls.%s", key);
	if (l->kind != Y_SEQ) {
		perr(c, l->line, field, "must be a list of system call names or @groups, got %s", kind_name(l->kind));
		return;
	}
	for (i = 0; i < l->n && !c->failed; i++) {
		const struct y_node *it = l->items[i];
		const char *s;

		snprintf(field, sizeof(field), "syscalls.%s[%zu]", key, i);
		if (it->kind != Y_SCALAR) {
			perr(c, it->line, field, "must be a system call name or @group, got %s", kind_name(it->kind));
			return;
		}
		s = it->str;
		if (s[0] == '@') {
			int g = sbx_group_nr(s + 1);

			if (g < 0) {
				char list[300] = "";
				int k;

				for (k = 0; k < G_COUNT; k++) {
					strncat(list, k ? ", @" : "@", sizeof(list) - strlen(list) - 1);
					strncat(list, sbx_group_names[k], sizeof(list) - strlen(list) - 1);
				}
				perr(c, it->line, field, "unknown group '%s' (groups: %s)", s, list);
				return;
			}
			if (act == ACT_ALLOW && (g == G_NEVER || g == G_ADMIN)) {
				perr(c, it->line, field, "group '%s' cannot be allowed: its calls would reach the monitor "
				     "or administer the host", s);
				return;
			}
			for (nr = 0; nr < SBX_NR_MAX; nr++) {
				const struct sc_desc *d = sbx_syscall(nr);

				if (!d || d->group != g || (d->flags & (F_ALWAYS | F_NOSYS)))
					continue;
				p->action[nr] = act;
			}
			continue;
		}
		nr = sbx_syscall_nr(s);
		if (nr < 0) {
			perr(c, it->line, field, "unknown system call '%s' (Linux x86-64 names, e.g. openat)", s);
			return;
		}
		if (act == ACT_ALLOW && (sbx_systab[nr].group == G_NEVER || sbx_systab[nr].group == G_ADMIN)) {
			perr(c, it->line, field, "'%s' cannot be allowed: %s", s, why_never(nr));
			return;
		}
		if (act != ACT_ALLOW && (sbx_systab[nr].flags & F_ALWAYS)) {
			perr(c, it->line, field, "'%s' cannot be denied: a program must be able to exit and return "
			     "from its signal handlers", s);
			return;
		}
		p->action[nr] = act;
	}
}

static void parse_syscalls(struct ctx *c, struct sbx_policy *p, const struct y_node *sys)
{
	static const char *const keys[] = { "default", "allow", "deny", "kill", NULL };
	const struct y_node *def;
	uint8_t dflt = ACT_DENY;
	int nr, i;

	if (sys->kind != Y_MAP) {
		perr(c, sys->line, "syscalls", "must be a mapping (default, allow, deny, kill), got %s",
		     kind_name(sys->kind));
		return;
	}
	if (!known_keys(c, sys, "syscalls.", keys))
		return;
	def = y_get(sys, "default");
	if (def) {
		if (def->kind == Y_SCALAR && !strcmp(def->str, "deny"))
			dflt = ACT_DENY;
		else if (def->kind == Y_SCALAR && !strcmp(def->str, "kill"))
			dflt = ACT_KILL;
		else {
			perr(c, def->line, "syscalls.default", "must be deny or kill (a policy lists what it allows)");
			return;
		}
	}
	for (nr = 0; nr < SBX_NR_MAX; nr++)
		p->action[nr] = dflt;
	apply_list(c, p, sys, "allow", ACT_ALLOW);
	apply_list(c, p, sys, "deny", ACT_DENY);
	apply_list(c, p, sys, "kill", ACT_KILL);
	/* a name both in deny and kill is a contradiction */
	{
		const struct y_node *d = y_get(sys, "deny"), *k = y_get(sys, "kill");
		size_t a, b;

		if (d && k && d->kind == Y_SEQ && k->kind == Y_SEQ)
			for (a = 0; a < d->n && !c->failed; a++)
				for (b = 0; b < k->n; b++)
					if (d->items[a]->kind == Y_SCALAR && k->items[b]->kind == Y_SCALAR &&
					    !strcmp(d->items[a]->str, k->items[b]->str)) {
						char field[64];

						snprintf(field, sizeof(field), "syscalls.kill[%zu]", b);
						perr(c, k->items[b]->line, field, "'%s' is also in syscalls.deny",
						     k->items[b]->str);
						break;
					}
	}
	for (i = 0; i < SBX_NR_MAX; i++) {
		const struct sc_desc *d = sbx_syscall((uint64_t)i);

		if (d && (d->flags & F_ALWAYS))
			p->action[i] = ACT_ALLOW;
	}
}

/* -------------------------------------------------------------- files */

/* Normalize an absolute path in place: "//" and trailing '/' removed. -1 if it has . or .. components. */
static int normalize_prefix(char *s)
{
	char *r = s, *w = s;

	if (*s != '/')
		return -1;
	while (*r) {
		if (*r == '/') {
			while (r[1] == '/')
				r++;
			if (!strncmp(r, "/./", 3) || !strcmp(r, "/.") || !strncmp(r, "/../", 4) || !strcmp(r, "/.."))
				return -1;
		}
		*w++ = *r++;
	}
	*w = '\0';
	if (w - s > 1 && w[-1] == '/')
		w[-1] = '\0';
	return 0;
}

static void parse_prefix_list(struct ctx *c, struct sbx_policy *p, const struct y_node *files, const char *key,
			      bool write)
{
	const struct y_node *l = y_get(files, key);
	char field[64];
	size_t i;

	if (!l || l->kind == Y_NULL)
		return;
	snprintf(field, sizeof(field), "files.%s", key);
	if (l->kind != Y_SEQ) {
		perr(c, l->line, field, "must be a list of absolute paths, got %s", kind_name(l->kind));
		return;
	}
	for (i = 0; i < l->n && !c->failed; i++) {
		const struct y_node *it = l->items[i];
		char *path;
		int j;

		snprintf(field, sizeof(field), "files.%s[%zu]", key, i);
		if (it->kind != Y_SCALAR) {
			perr(c, it->line, field, "must be an absolute path, got %s", kind_name(it->kind));
			return;
		}
		if (strlen(it->str) >= 1024) {
			perr(c, it->line, field, "path too long");
			return;
		}
		path = strdup(it->str);
		if (!path || normalize_prefix(path)) {
			perr(c, it->line, field, "'%s' must be an absolute path without . or .. components", it->str);
			free(path);
			return;
		}
		for (j = 0; j < p->nprefixes; j++)
			if (!strcmp(p->prefixes[j].path, path)) {
				perr(c, it->line, field, "'%s' is listed twice%s", path,
				     p->prefixes[j].write != write ? " (in files.read and files.write)" : "");
				free(path);
				return;
			}
		if (p->nprefixes == SBX_MAX_PREFIXES) {
			perr(c, it->line, field, "too many paths (at most %d)", SBX_MAX_PREFIXES);
			free(path);
			return;
		}
		p->prefixes[p->nprefixes].path = path;
		p->prefixes[p->nprefixes].write = write;
		p->nprefixes++;
	}
}

static void parse_files(struct ctx *c, struct sbx_policy *p, const struct y_node *files)
{
	static const char *const keys[] = { "read", "write", NULL };

	if (files->kind != Y_MAP) {
		perr(c, files->line, "files", "must be a mapping (read, write), got %s", kind_name(files->kind));
		return;
	}
	if (!known_keys(c, files, "files.", keys))
		return;
	parse_prefix_list(c, p, files, "read", false);
	parse_prefix_list(c, p, files, "write", true);
}

const struct sbx_prefix *sbx_policy_match(const struct sbx_policy *p, const char *path)
{
	const struct sbx_prefix *best = NULL;
	size_t best_len = 0;
	int i;

	for (i = 0; i < p->nprefixes; i++) {
		const char *pre = p->prefixes[i].path;
		size_t n = strlen(pre);

		if (n == 1) {	/* "/" covers everything */
			if (!best)
				best = &p->prefixes[i];
			continue;
		}
		if (strncmp(path, pre, n) || (path[n] && path[n] != '/'))
			continue;
		if (n > best_len) {
			best = &p->prefixes[i];
			best_len = n;
		}
	}
	return best;
}

/* ------------------------------------------------------------ network */

static void parse_network(struct ctx *c, struct sbx_policy *p, const struct y_node *n)
{
	static const char *const keys[] = { "listen", NULL };
	const struct y_node *l;
	size_t i;

	if (n->kind == Y_SCALAR && !strcmp(n->str, "none")) {
		p->network = NET_NONE;
		return;
	}
	if (n->kind == Y_SCALAR && !strcmp(n->str, "connect")) {
		p->network = NET_CONNECT;
		return;
	}
	if (n->kind != Y_MAP) {
		perr(c, n->line, "network", "must be none, connect or {listen: [PORT, ...]}");
		return;
	}
	if (!known_keys(c, n, "network.", keys))
		return;
	l = y_get(n, "listen");
	if (!l || l->kind != Y_SEQ || !l->n) {
		perr(c, n->line, "network.listen", "must be a non-empty list of TCP/UDP ports");
		return;
	}
	p->network = NET_LISTEN;
	for (i = 0; i < l->n && !c->failed; i++) {
		char field[48];
		long port;

		snprintf(field, sizeof(field), "network.listen[%zu]", i);
		if (i >= SBX_MAX_PORTS) {
			perr(c, l->items[i]->line, field, "too many ports (at most %d)", SBX_MAX_PORTS);
			return;
		}
		if (!as_int(c, l->items[i], field, 1, 65535, &port))
			return;
		p->ports[p->nports++] = (uint16_t)port;
	}
}

/* ---------------------------------------------------------------- top */

struct sbx_policy *sbx_policy_parse(const char *text, size_t len, const char *name, struct sbx_policy_error *err)
{
	static const char *const keys[] = { "version", "description", "syscalls", "files", "network", "memory",
					    "processes", "max_processes", "threads", "exec", NULL };
	struct ctx c = { name, err, false };
	struct y_error ye;
	struct y_node *root = y_parse(text, len, &ye), *n;
	struct sbx_policy *p;
	long v;

	memset(err, 0, sizeof(*err));
	if (!root) {
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: %s", name, ye.line, ye.col, ye.msg);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		y_free(root);
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", name);
		return NULL;
	}
	p->name = strdup(name);
	p->memory = 1ULL << 30;
	p->max_processes = 16;
	p->exec = true;
	for (v = 0; v < SBX_NR_MAX; v++)
		p->action[v] = ACT_DENY;

	if (root->kind != Y_MAP) {
		perr(&c, root->line, "(document)", "a policy is a mapping of fields (version, syscalls, files, ...), "
		     "got %s", kind_name(root->kind));
		goto out;
	}
	if (!known_keys(&c, root, "", keys))
		goto out;
	n = y_get(root, "version");
	if (!n) {
		perr(&c, root->line, "version", "is required (version: 1)");
		goto out;
	}
	if (!as_int(&c, n, "version", 1, 1, &v))
		goto out;
	n = y_get(root, "description");
	if (n) {
		if (n->kind != Y_SCALAR) {
			perr(&c, n->line, "description", "must be a string");
			goto out;
		}
		p->description = strdup(n->str);
	}
	n = y_get(root, "syscalls");
	if (!n) {
		perr(&c, root->line, "syscalls", "is required (the calls the program may make)");
		goto out;
	}
	parse_syscalls(&c, p, n);
	if (c.failed)
		goto out;
	n = y_get(root, "files");
	if (n && n->kind != Y_NULL)
		parse_files(&c, p, n);
	if (c.failed)
		goto out;
	n = y_get(root, "network");
	if (n)
		parse_network(&c, p, n);
	if (c.failed)
		goto out;
	n = y_get(root, "memory");
	if (n) {
		if (n->kind != Y_SCALAR || sbx_parse_size(n->str, &p->memory)) {
			perr(&c, n->line, "memory", "must be a size like 256M or 2G (K, M, G, T: powers of 1024)");
			goto out;
		}
		if (p->memory < (16ULL << 20)) {
			perr(&c, n->line, "memory", "must be at least 16M (the stack alone takes 8M)");
			goto out;
		}
	}
	n = y_get(root, "processes");
	if (n && !as_bool(&c, n, "processes", &p->processes))
		goto out;
	n = y_get(root, "max_processes");
	if (n) {
		if (!as_int(&c, n, "max_processes", 1, 4096, &v))
			goto out;
		p->max_processes = (int)v;
	}
	n = y_get(root, "threads");
	if (n && !as_bool(&c, n, "threads", &p->threads))
		goto out;
	n = y_get(root, "exec");
	if (n && !as_bool(&c, n, "exec", &p->exec))
		goto out;
out:
	y_free(root);
	if (c.failed) {
		sbx_policy_free(p);
		return NULL;
	}
	return p;
}

struct sbx_policy *sbx_policy_load(const char *file, struct sbx_policy_error *err)
{
	struct sbx_policy *p;
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, i;

	if (!strchr(file, '/')) {
		for (i = 0; sbx_builtin_names[i]; i++)
			if (!strcmp(sbx_builtin_names[i], file)) {
				char name[96];

				snprintf(name, sizeof(name), "<built-in %s>", file);
				return sbx_policy_parse(sbx_builtin_texts[i], strlen(sbx_builtin_texts[i]), name, err);
			}
		snprintf(err->msg, sizeof(err->msg), "%s: no built-in policy of that name (a file needs a '/', e.g. ./%s)",
			 file, file);
		return NULL;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		snprintf(err->msg, sizeof(err->msg), "%s: not a regular file of at most 1 MiB", file);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", file);
		return NULL;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	p = sbx_policy_parse(buf, got, file, err);
	free(buf);
	return p;
}
