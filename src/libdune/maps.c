/* maps.c - /proc/self/maps parser, see maps.h. */
#include <string.h>
#include "maps.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *parse_hex(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0, d;

	while (p < end && (d = hexval(*p)) >= 0) {
		if (n++ >= 16)
			return NULL;
		v = (v << 4) | (uint64_t)d;
		p++;
	}
	*out = v;
	return n ? p : NULL;
}

static const char *skip_field(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	return p;
}

static enum maps_kind classify(const char *path, size_t n)
{
#define IS(s) (n == sizeof(s) - 1 && !memcmp(path, s, n))
	if (!n || path[0] != '[')
		return MAPS_KIND_FILE;
	if (IS("[heap]"))
		return MAPS_KIND_HEAP;
	if (IS("[stack]"))
		return MAPS_KIND_STACK;
	if (IS("[vdso]"))
		return MAPS_KIND_VDSO;
	if (IS("[vvar]") || IS("[vvar_vclock]"))
		return MAPS_KIND_VVAR;
	if (IS("[vsyscall]"))
		return MAPS_KIND_VSYSCALL;
	return MAPS_KIND_OTHER;
#undef IS
}

int maps_parse(const char *buf, size_t len, maps_cb cb, void *arg)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		struct maps_entry e;
		int ret;

		if (!eol)
			eol = end;
		if (eol == p) {		/* empty line */
			p = eol + 1;
			continue;
		}
		memset(&e, 0, sizeof(e));
		p = parse_hex(p, eol, &e.start);
		if (!p || p >= eol || *p != '-')
			return -1;
		p = parse_hex(p + 1, eol, &e.end);
		if (!p || p + 5 > eol || *p != ' ' || e.end < e.start)
			return -1;
		p++;
		if (p[0] == 'r')
			e.prot |= MAPS_R;
		if (p[1] == 'w')
			e.prot |= MAPS_W;
		if (p[2] == 'x')
			e.prot |= MAPS_X;
		if (p[3] == 's')
			e.prot |= MAPS_SHARED;
		p = skip_field(p, eol);		/* perms */
		p = skip_field(p, eol);		/* offset */
		p = skip_field(p, eol);		/* dev */
		p = skip_field(p, eol);		/* inode */
		e.path = p;
		e.path_len = (size_t)(eol - p);
		/* " (deleted)" and trailing blanks are part of the name; fine for us */
		e.kind = classify(e.path, e.path_len);
		ret = cb(&e, arg);
		if (ret)
			return ret;
		p = eol + 1;
	}
	return 0;
}
