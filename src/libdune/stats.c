/*
 * stats.c - dune.ko's event counters of this process's /dev/dune file
 * (DUNE_GET_STATS; struct dune_stats in uapi/dune.h).
 */
#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "internal.h"

int dune_get_stats(struct dune_stats *st)
{
	if (dune_fd < 0 || !dune_be)
		return -ENODEV;
	if (cpl() != 0)
		return (int)dune_be->get_stats(st);
	/* In Dune mode one round trip to the host loop, counted like any syscall. */
	return (int)dune_syscall6(DUNE_VMCALL_GET_STATS, (long)st, 0, 0, 0, 0, 0);
}
