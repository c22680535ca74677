/*
 * backend.c - choosing the back end at dune_init(): DUNE_BACKEND=dune|kvm
 * forces one; unset or "auto" takes dune.ko when /dev/dune can be opened,
 * else /dev/kvm.  Host side only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const struct dune_backend *dune_be;
int dune_exit_insn;

static int try_open(const struct dune_backend *be, struct dune_layout *layout, bool quiet)
{
	int fd = be->open(layout, quiet);

	if (fd >= 0) {
		dune_be = be;
		dune_exit_insn = be->exit_insn;
	}
	return fd;
}

int dune_backend_open(struct dune_layout *layout)
{
	const char *want = getenv("DUNE_BACKEND");
	int fd, dfd;

	if (want && !strcmp(want, "dune"))
		return try_open(&dune_backend_dune, layout, false);
	if (want && !strcmp(want, "kvm"))
		return try_open(&dune_backend_kvm, layout, false);
	if (want && *want && strcmp(want, "auto")) {
		dune_printf("dune: DUNE_BACKEND=%s: expected dune, kvm or auto\n", want);
		return -EINVAL;
	}
	dfd = try_open(&dune_backend_dune, layout, true);
	if (dfd >= 0)
		return dfd;
	fd = try_open(&dune_backend_kvm, layout, true);
	if (fd >= 0)
		return fd;
	dune_printf("dune: cannot open /dev/dune: %s; no usable /dev/kvm either (%s)\n", strerror(-dfd),
		    strerror(-fd));
	return dfd;
}
