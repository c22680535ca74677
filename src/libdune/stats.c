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
	if (dune_fd < 0)
		return -ENODEV;
	/* In Dune mode a VMCALL: the ioctl runs on the host, like any syscall. */
	return (int)dune_syscall6(SYS_ioctl, dune_fd, DUNE_GET_STATS, (long)st, 0, 0, 0);
}
