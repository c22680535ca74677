/*
 * yaml.h - a strict parser for the subset of YAML that sandbox policies use.
 *
 * Supported: block mappings and sequences by indentation (spaces only),
 * "- key: value" items, flow sequences [a, b] and flow mappings {a: 1},
 * plain, 'single' and "double" quoted scalars, comments, one optional
 * leading "---".  Everything else (tabs in indentation, anchors, aliases,
 * tags, block scalars | >, several documents, duplicate keys) is an error
 * with its line and column, never silently misread.
 */
#ifndef SBX_YAML_H
#define SBX_YAML_H

#include <stdbool.h>
#include <stddef.h>

enum y_kind { Y_SCALAR, Y_SEQ, Y_MAP, Y_NULL };

struct y_node {
	enum y_kind kind;
	int line, col;		/* where it starts (1-based) */
	char *str;		/* Y_SCALAR: decoded text */
	bool quoted;		/* Y_SCALAR: was quoted (never a number/bool/null) */
	size_t n;		/* Y_SEQ / Y_MAP: number of items */
	struct y_node **items;	/* sequence items, or mapping values */
	char **keys;		/* Y_MAP: keys, in order */
	int *key_lines, *key_cols;
};

struct y_error {
	int line, col;
	char msg[200];
};

/* Parse text (NUL-terminated, len bytes).  NULL on error (err filled). */
struct y_node *y_parse(const char *text, size_t len, struct y_error *err);
void y_free(struct y_node *n);

/* Value of key in a mapping, or NULL. */
struct y_node *y_get(const struct y_node *map, const char *key);

#endif
