/*
 * policy.h - a sandbox policy: which system calls a program may make, which
 * files it may read and write, its network, memory and process limits.
 * Loaded from YAML (policy.c) and validated field by field: every error
 * names the file, the line, the field and the reason.  README.md documents
 * the format.
 */
#ifndef SBX_POLICY_H
#define SBX_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "systab.h"

enum sbx_action {
	ACT_DENY = 0,	/* -EPERM, logged */
	ACT_ALLOW,
	ACT_KILL,	/* the program is killed with SIGSYS, logged */
};

enum sbx_net {
	NET_NONE,	/* no sockets but AF_UNIX socketpair */
	NET_CONNECT,	/* outgoing TCP/UDP (and AF_UNIX paths under files.write) */
	NET_LISTEN,	/* connect, plus bind/listen on the listed ports */
};

#define SBX_MAX_PREFIXES	32
#define SBX_MAX_PORTS		16

struct sbx_prefix {
	char *path;		/* absolute, normalized, no trailing '/' (except "/") */
	bool write;		/* files.write (else files.read) */
};

struct sbx_policy {
	char *name;		/* file name or built-in name */
	char *description;
	uint8_t action[SBX_NR_MAX];	/* enum sbx_action per syscall */
	struct sbx_prefix prefixes[SBX_MAX_PREFIXES];
	int nprefixes;
	enum sbx_net network;
	uint16_t ports[SBX_MAX_PORTS];
	int nports;
	uint64_t memory;	/* bytes of address space the program may map */
	bool processes;		/* fork/vfork/clone without CLONE_VM */
	int max_processes;	/* live sandboxed processes at once (the first included) */
	bool threads;		/* clone with CLONE_VM */
	bool exec;		/* execve (runs the new program inside the sandbox) */
};

struct sbx_policy_error {
	char msg[512];		/* "FILE:LINE: FIELD: REASON" */
};

/* Parse and validate policy text.  NULL on error (err filled). name is used in messages. */
struct sbx_policy *sbx_policy_parse(const char *text, size_t len, const char *name, struct sbx_policy_error *err);
/* Load from a file: NAME with a '/' is a path, else a built-in policy. */
struct sbx_policy *sbx_policy_load(const char *file, struct sbx_policy_error *err);
void sbx_policy_free(struct sbx_policy *p);

/* Built-in policies (policies/\*.yaml compiled in): names and texts, NULL-terminated. */
extern const char *const sbx_builtin_names[];
extern const char *const sbx_builtin_texts[];

/* Parse "64M", "1G", "4096" (bytes; K/M/G are powers of 1024).  0 or -1. */
int sbx_parse_size(const char *s, uint64_t *out);

/* The longest prefix covering an absolute normalized path, or NULL. */
const struct sbx_prefix *sbx_policy_match(const struct sbx_policy *p, const char *path);

#endif
