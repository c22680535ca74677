/*
 * yaml.c - strict YAML-subset parser (see yaml.h).  Two passes: the text is
 * cut into logical lines (indentation, content without comments), then a
 * recursive descent builds nodes from the lines' indentation; flow
 * collections and quoted scalars are parsed character by character.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml.h"

#define MAX_DEPTH	32

struct line {
	int no;			/* 1-based line number */
	int indent;		/* 0-based column of text */
	char *text;		/* content, comment and trailing blanks removed (owned by the parser buffer) */
};

struct parser {
	struct line *lines;
	int n, cur;
	char *buf;		/* private copy of the text, cut into lines */
	struct y_error *err;
	bool failed;
	int depth;
};

static void fail(struct parser *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void fail(struct parser *p, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	p->err->line = line;
	p->err->col = col;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
}

static struct y_node *new_node(enum y_kind k, int line, int col)
{
	struct y_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->kind = k;
		n->line = line;
		n->col = col;
	}
	return n;
}

void y_free(struct y_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n; i++) {
		y_free(n->items[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->key_lines);
	free(n->key_cols);
	free(n->str);
	free(n);
}

static bool append(struct y_node *n, char *key, int kline, int kcol, struct y_node *v)
{
	size_t m = n->n + 1;
	struct y_node **it = realloc(n->items, m * sizeof(*it));

	if (!it)
		return false;
	n->items = it;
	if (n->kind == Y_MAP) {
		char **k = realloc(n->keys, m * sizeof(*k));
		int *kl, *kc;

		if (!k)
			return false;
		n->keys = k;
		kl = realloc(n->key_lines, m * sizeof(*kl));
		if (!kl)
			return false;
		n->key_lines = kl;
		kc = realloc(n->key_cols, m * sizeof(*kc));
		if (!kc)
			return false;
		n->key_cols = kc;
		n->keys[n->n] = key;
		n->key_lines[n->n] = kline;
		n->key_cols[n->n] = kcol;
	}
	n->items[n->n] = v;
	n->n = m;
	return true;
}

struct y_node *y_get(const struct y_node *map, const char *key)
{
	size_t i;

	if (!map || map->kind != Y_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (!strcmp(map->keys[i], key))
			return map->items[i];
	return NULL;
}

/* ------------------------------------------------------------ lines */

/* Cut p->buf into lines; strip comments (outside quotes) and trailing blanks. */
static bool split_lines(struct parser *p, size_t len)
{
	char *s = p->buf, *end = p->buf + len;
	int no = 0, cap = 0;

	while (s < end) {
		char *eol = memchr(s, '\n', (size_t)(end - s)), *t, *last;
		char quote = 0;
		int indent = 0;

		if (!eol)
			eol = end;
		*eol = '\0';
		no++;
		if (eol > s && eol[-1] == '\r')
			eol[-1] = '\0';
		for (t = s; *t == ' '; t++)
			indent++;
		if (*t == '\t') {
			fail(p, no, indent + 1, "tab in indentation (use spaces)");
			return false;
		}
		/* comment: '#' at the start or after a blank, outside quotes */
		for (last = t; *last; last++) {
			if (quote) {
				if (*last == '\\' && quote == '"' && last[1])
					last++;
				else if (*last == quote)
					quote = 0;
			} else if (*last == '"' || *last == '\'') {
				if (last == t || strchr(" \t[{,:", last[-1]))
					quote = *last;
			} else if (*last == '#' && (last == t || last[-1] == ' ' || last[-1] == '\t')) {
				*last = '\0';
				break;
			}
		}
		for (last = t + strlen(t); last > t && (last[-1] == ' ' || last[-1] == '\t'); last--)
			last[-1] = '\0';
		if (*t) {
			if (p->n == cap) {
				struct line *nl;

				cap = cap ? cap * 2 : 64;
				nl = realloc(p->lines, (size_t)cap * sizeof(*nl));
				if (!nl) {
					fail(p, no, 1, "out of memory");
					return false;
				}
				p->lines = nl;
			}
			p->lines[p->n].no = no;
			p->lines[p->n].indent = indent;
			p->lines[p->n].text = t;
			p->n++;
		}
		s = eol + 1;
	}
	return true;
}

/* ---------------------------------------------------------- scalars */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * A quoted scalar starting at *s (the quote).  Advances *s past the closing
 * quote.  Returns the decoded string (malloc'd) or NULL (error reported).
 */
static char *parse_quoted(struct parser *p, const char **s, int line, int col)
{
	char q = **s, *out = malloc(strlen(*s) + 1), *o = out;
	const char *c = *s + 1;

	if (!out) {
		fail(p, line, col, "out of memory");
		return NULL;
	}
	for (;; c++) {
		if (!*c) {
			fail(p, line, col, "unterminated %s-quoted string", q == '"' ? "double" : "single");
			free(out);
			return NULL;
		}
		if (*c == q) {
			if (q == '\'' && c[1] == '\'') {
				*o++ = '\'';
				c++;
				continue;
			}
			break;
		}
		if (q == '"' && *c == '\\') {
			c++;
			switch (*c) {
			case 'n': *o++ = '\n'; break;
			case 't': *o++ = '\t'; break;
			case 'r': *o++ = '\r'; break;
			case '0': *o++ = '\0'; break;
			case '\\': *o++ = '\\'; break;
			case '"': *o++ = '"'; break;
			case '/': *o++ = '/'; break;
			case ' ': *o++ = ' '; break;
			case 'x': {
				int h = hexval(c[1]), l = h < 0 ? -1 : hexval(c[2]);

				if (h < 0 || l < 0 || (h == 0 && l == 0)) {
					fail(p, line, col + (int)(c - *s), "bad \\x escape (two hex digits, not 00)");
					free(out);
					return NULL;
				}
				*o++ = (char)(h * 16 + l);
				c += 2;
				break;
			}
			default:
				fail(p, line, col + (int)(c - 1 - *s), "unsupported escape \\%c", *c ? *c : '?');
				free(out);
				return NULL;
			}
			if (o[-1] == '\0') {
				fail(p, line, col + (int)(c - *s), "NUL byte in a string");
				free(out);
				return NULL;
			}
			continue;
		}
		*o++ = *c;
	}
	*o = '\0';
	*s = c + 1;
	return out;
}

static bool reserved_start(char c)
{
	return c == '&' || c == '*' || c == '!' || c == '|' || c == '>' || c == '%' || c == '@' || c == '`' ||
	       c == '?';
}

static const char *reserved_what(char c)
{
	switch (c) {
	case '&': return "anchors (&) are not supported";
	case '*': return "aliases (*) are not supported";
	case '!': return "tags (!) are not supported";
	case '|': case '>': return "block scalars (| and >) are not supported";
	case '?': return "complex keys (?) are not supported";
	default: return "a scalar cannot start with this character (quote it)";
	}
}

static struct y_node *scalar_node(struct parser *p, char *str, bool quoted, int line, int col)
{
	struct y_node *n;

	if (!str)
		return NULL;
	n = new_node(Y_SCALAR, line, col);
	if (!n) {
		free(str);
		fail(p, line, col, "out of memory");
		return NULL;
	}
	n->str = str;
	n->quoted = quoted;
	return n;
}

/* ------------------------------------------------------------- flow */

static void skip_ws(const char **s)
{
	while (**s == ' ' || **s == '\t')
		(*s)++;
}

static struct y_node *parse_flow(struct parser *p, const char **s, const char *base, int line, int col0);

/* A plain scalar in flow context: up to , ] } or ": " (and ':' at the end). */
static struct y_node *flow_plain(struct parser *p, const char **s, const char *base, int line, int col0, bool key)
{
	const char *b = *s, *e;
	int col = col0 + (int)(b - base);

	if (reserved_start(*b)) {
		fail(p, line, col, "%s", reserved_what(*b));
		return NULL;
	}
	for (e = b; *e && *e != ',' && *e != ']' && *e != '}' && *e != '[' && *e != '{'; e++)
		if (*e == ':' && (key || e[1] == ' ' || e[1] == '\0' || e[1] == ',' || e[1] == ']' || e[1] == '}'))
			break;
	*s = e;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == b) {
		fail(p, line, col, "empty value in a flow collection");
		return NULL;
	}
	return scalar_node(p, strndup(b, (size_t)(e - b)), false, line, col);
}

static struct y_node *flow_scalar(struct parser *p, const char **s, const char *base, int line, int col0, bool key)
{
	int col = col0 + (int)(*s - base);

	if (**s == '"' || **s == '\'')
		return scalar_node(p, parse_quoted(p, s, line, col), true, line, col);
	return flow_plain(p, s, base, line, col0, key);
}

static struct y_node *parse_flow(struct parser *p, const char **s, const char *base, int line, int col0)
{
	char open = **s, close = open == '[' ? ']' : '}';
	int col = col0 + (int)(*s - base);
	struct y_node *n = new_node(open == '[' ? Y_SEQ : Y_MAP, line, col);

	if (!n) {
		fail(p, line, col, "out of memory");
		return NULL;
	}
	if (++p->depth > MAX_DEPTH) {
		fail(p, line, col, "nested deeper than %d levels", MAX_DEPTH);
		goto bad;
	}
	(*s)++;
	for (;;) {
		struct y_node *v;
		char *key = NULL;
		int kline = line, kcol = 0;
		size_t i;

		skip_ws(s);
		if (**s == close) {
			(*s)++;
			break;
		}
		if (!**s) {
			fail(p, line, col, "unterminated flow %s (missing '%c')", open == '[' ? "sequence" : "mapping",
			     close);
			goto bad;
		}
		if (n->kind == Y_MAP) {
			struct y_node *k;

			kcol = col0 + (int)(*s - base);
			if (**s == '[' || **s == '{') {
				fail(p, line, kcol, "a key must be a scalar");
				goto bad;
			}
			k = flow_scalar(p, s, base, line, col0, true);
			if (!k)
				goto bad;
			key = k->str;
			k->str = NULL;
			y_free(k);
			skip_ws(s);
			if (**s != ':') {
				fail(p, line, col0 + (int)(*s - base), "expected ':' after key '%s'", key);
				free(key);
				goto bad;
			}
			(*s)++;
			skip_ws(s);
			for (i = 0; i < n->n; i++)
				if (!strcmp(n->keys[i], key)) {
					fail(p, line, kcol, "duplicate key '%s'", key);
					free(key);
					goto bad;
				}
		}
		if (**s == '[' || **s == '{')
			v = parse_flow(p, s, base, line, col0);
		else
			v = flow_scalar(p, s, base, line, col0, false);
		if (!v || !append(n, key, kline, kcol, v)) {
			y_free(v);
			free(key);
			fail(p, line, col, "out of memory");
			goto bad;
		}
		skip_ws(s);
		if (**s == ',') {
			(*s)++;
			continue;
		}
		if (!**s) {
			fail(p, line, col, "unterminated flow %s (missing '%c')", open == '[' ? "sequence" : "mapping",
			     close);
			goto bad;
		}
		if (**s != close) {
			fail(p, line, col0 + (int)(*s - base), "expected ',' or '%c' in a flow %s", close,
			     open == '[' ? "sequence" : "mapping");
			goto bad;
		}
	}
	p->depth--;
	return n;
bad:
	p->depth--;
	y_free(n);
	return NULL;
}

/* --------------------------------------------------------- block form */

static struct y_node *parse_block(struct parser *p, int indent);

static bool is_seq_item(const char *t)
{
	return t[0] == '-' && (t[1] == ' ' || t[1] == '\0');
}

/*
 * If t starts with a mapping key ("key:" followed by a blank or the end),
 * return the key (malloc'd) and set *rest to what follows the ':' (blanks
 * skipped).  NULL if t is not a key line (or on error, p->failed set).
 */
static char *map_key(struct parser *p, const char *t, int line, int col, const char **rest)
{
	const char *c = t;
	char *key;

	if (*t == '"' || *t == '\'') {
		key = parse_quoted(p, &c, line, col);
		if (!key)
			return NULL;
		skip_ws(&c);
		if (*c != ':' || (c[1] && c[1] != ' ')) {
			free(key);
			return NULL;
		}
	} else {
		if (*t == '[' || *t == '{' || is_seq_item(t) || reserved_start(*t))
			return NULL;
		for (; *c; c++)
			if (*c == ':' && (c[1] == ' ' || c[1] == '\0'))
				break;
		if (!*c)
			return NULL;
		{
			const char *e = c;

			while (e > t && e[-1] == ' ')
				e--;
			key = strndup(t, (size_t)(e - t));
		}
		if (!key) {
			fail(p, line, col, "out of memory");
			return NULL;
		}
	}
	c++;
	skip_ws(&c);
	*rest = c;
	return key;
}

/* A value written on the same line as its key or "- ": flow, quoted or plain. */
static struct y_node *inline_value(struct parser *p, const char *t, int line, int col)
{
	const char *s = t;
	struct y_node *n;

	if (*t == '[' || *t == '{') {
		/* a flow collection may continue on the next lines: join them */
		int depth = 0, l;
		size_t need = strlen(t) + 1;
		char *joined, quote = 0;
		const char *c;

		for (l = p->cur;; l++) {
			for (c = l == p->cur ? t : p->lines[l].text; *c; c++) {
				if (quote) {
					if (*c == '\\' && quote == '"' && c[1])
						c++;
					else if (*c == quote)
						quote = 0;
				} else if (*c == '"' || *c == '\'')
					quote = *c;
				else if (*c == '[' || *c == '{')
					depth++;
				else if (*c == ']' || *c == '}')
					depth--;
			}
			if (depth <= 0 || l + 1 >= p->n)
				break;
			need += strlen(p->lines[l + 1].text) + 1;
		}
		joined = malloc(need);
		if (!joined) {
			fail(p, line, col, "out of memory");
			return NULL;
		}
		strcpy(joined, t);
		while (p->cur < l) {
			p->cur++;
			strcat(joined, " ");
			strcat(joined, p->lines[p->cur].text);
		}
		s = joined;
		n = parse_flow(p, &s, joined, line, col);
		if (n) {
			skip_ws(&s);
			if (*s) {
				fail(p, line, col + (int)(s - joined), "unexpected text after the flow collection");
				y_free(n);
				n = NULL;
			}
		}
		free(joined);
		return n;
	}
	if (*t == '"' || *t == '\'') {
		n = scalar_node(p, parse_quoted(p, &s, line, col), true, line, col);
		if (n && *s) {
			fail(p, line, col + (int)(s - t), "unexpected text after the quoted string");
			y_free(n);
			return NULL;
		}
		return n;
	}
	if (reserved_start(*t)) {
		fail(p, line, col, "%s", reserved_what(*t));
		return NULL;
	}
	if (is_seq_item(t)) {
		fail(p, line, col, "a sequence cannot start on the line of its key (put '- ' items on the next lines)");
		return NULL;
	}
	{
		const char *c;

		for (c = t; *c; c++)
			if (*c == ':' && (c[1] == ' ' || c[1] == '\0')) {
				fail(p, line, col + (int)(c - t), "unexpected ': ' in a plain value (quote the value, or "
					   "put a nested mapping on its own lines)");
				return NULL;
			}
	}
	return scalar_node(p, strdup(t), false, line, col);
}

static struct y_node *parse_seq(struct parser *p, int indent)
{
	struct line *L = &p->lines[p->cur];
	struct y_node *n = new_node(Y_SEQ, L->no, indent + 1);

	if (!n) {
		fail(p, L->no, indent + 1, "out of memory");
		return NULL;
	}
	while (!p->failed && p->cur < p->n) {
		struct y_node *v;
		const char *rest;

		L = &p->lines[p->cur];
		if (L->indent < indent)
			break;
		if (L->indent > indent) {
			fail(p, L->no, L->indent + 1, "unexpected indentation");
			break;
		}
		if (!is_seq_item(L->text))
			break;
		rest = L->text + 1;
		skip_ws(&rest);
		if (!*rest) {
			int no = L->no;

			p->cur++;
			if (p->cur < p->n && p->lines[p->cur].indent > indent)
				v = parse_block(p, p->lines[p->cur].indent);
			else
				v = new_node(Y_NULL, no, indent + 2);
		} else {
			/* "- x": x is a node at column of x (a mapping may continue below it) */
			L->indent += (int)(rest - L->text);
			L->text = (char *)rest;
			v = parse_block(p, L->indent);
		}
		if (!v || !append(n, NULL, 0, 0, v)) {
			y_free(v);
			fail(p, L->no, indent + 1, "out of memory");
			break;
		}
	}
	if (p->failed) {
		y_free(n);
		return NULL;
	}
	return n;
}

static struct y_node *parse_map(struct parser *p, int indent)
{
	struct line *L = &p->lines[p->cur];
	struct y_node *n = new_node(Y_MAP, L->no, indent + 1);

	if (!n) {
		fail(p, L->no, indent + 1, "out of memory");
		return NULL;
	}
	while (!p->failed && p->cur < p->n) {
		const char *rest = NULL;
		struct y_node *v;
		char *key;
		size_t i;
		int no;

		L = &p->lines[p->cur];
		if (L->indent < indent)
			break;
		if (L->indent > indent) {
			fail(p, L->no, L->indent + 1, "unexpected indentation");
			break;
		}
		key = map_key(p, L->text, L->no, L->indent + 1, &rest);
		if (!key) {
			if (!p->failed)
				fail(p, L->no, L->indent + 1, is_seq_item(L->text) ?
				     "a sequence item where a 'key: value' was expected" : "expected 'key: value'");
			break;
		}
		for (i = 0; i < n->n; i++)
			if (!strcmp(n->keys[i], key)) {
				fail(p, L->no, L->indent + 1, "duplicate key '%s' (first on line %d)", key,
				     n->key_lines[i]);
				break;
			}
		if (p->failed) {
			free(key);
			break;
		}
		no = L->no;
		if (!*rest) {
			p->cur++;
			if (p->cur < p->n && p->lines[p->cur].indent > indent)
				v = parse_block(p, p->lines[p->cur].indent);
			else if (p->cur < p->n && p->lines[p->cur].indent == indent &&
				 is_seq_item(p->lines[p->cur].text))
				v = parse_seq(p, indent);	/* "key:\n- a" at the key's own indentation */
			else
				v = new_node(Y_NULL, no, L->indent + 1);
		} else {
			v = inline_value(p, rest, no, L->indent + 1 + (int)(rest - L->text));
			p->cur++;
		}
		if (!v || !append(n, key, no, L->indent + 1, v)) {
			free(key);
			y_free(v);
			fail(p, no, indent + 1, "out of memory");
			break;
		}
	}
	if (p->failed) {
		y_free(n);
		return NULL;
	}
	return n;
}

static struct y_node *parse_block(struct parser *p, int indent)
{
	struct line *L = &p->lines[p->cur];
	const char *rest;
	char *key;
	struct y_node *n;

	if (++p->depth > MAX_DEPTH) {
		fail(p, L->no, L->indent + 1, "nested deeper than %d levels", MAX_DEPTH);
		return NULL;
	}
	if (is_seq_item(L->text)) {
		n = parse_seq(p, indent);
	} else if ((key = map_key(p, L->text, L->no, L->indent + 1, &rest)) != NULL) {
		free(key);
		n = parse_map(p, indent);
	} else if (p->failed) {
		n = NULL;
	} else {
		n = inline_value(p, L->text, L->no, L->indent + 1);
		p->cur++;
		if (n && p->cur < p->n && p->lines[p->cur].indent > indent) {
			fail(p, p->lines[p->cur].no, p->lines[p->cur].indent + 1, "unexpected indentation");
			y_free(n);
			n = NULL;
		}
	}
	p->depth--;
	return n;
}

struct y_node *y_parse(const char *text, size_t len, struct y_error *err)
{
	struct parser p;
	struct y_node *root = NULL;
	int i;

	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.err = err;
	if (memchr(text, '\0', len)) {
		fail(&p, 1, 1, "NUL byte in the file");
		return NULL;
	}
	p.buf = malloc(len + 1);
	if (!p.buf) {
		fail(&p, 1, 1, "out of memory");
		return NULL;
	}
	memcpy(p.buf, text, len);
	p.buf[len] = '\0';
	if (!split_lines(&p, len))
		goto out;
	if (p.n && !strcmp(p.lines[0].text, "---") && p.lines[0].indent == 0)
		p.cur = 1;
	for (i = p.cur; i < p.n; i++)
		if (p.lines[i].indent == 0 && (!strcmp(p.lines[i].text, "---") || !strcmp(p.lines[i].text, "..."))) {
			fail(&p, p.lines[i].no, 1, "only one YAML document is allowed");
			goto out;
		}
	if (p.cur >= p.n) {
		root = new_node(Y_NULL, 1, 1);
		goto out;
	}
	if (p.lines[p.cur].indent != 0) {
		fail(&p, p.lines[p.cur].no, p.lines[p.cur].indent + 1, "the document must start at column 1");
		goto out;
	}
	root = parse_block(&p, 0);
	if (root && p.cur < p.n) {
		fail(&p, p.lines[p.cur].no, p.lines[p.cur].indent + 1, "unexpected content after the document");
		y_free(root);
		root = NULL;
	}
out:
	if (p.failed) {
		y_free(root);
		root = NULL;
	}
	free(p.lines);
	free(p.buf);
	return root;
}
