/*
 * backend_dune.c - the dune.ko back end: /dev/dune speaks the host loop's
 * protocol natively (uapi/dune.h), so every op is one ioctl.  Host side only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

#include "internal.h"

static int dune_open(struct dune_layout *layout, bool quiet)
{
	long fd = host_syscall6(SYS_open, (long)"/dev/dune", O_RDWR | O_CLOEXEC, 0, 0, 0, 0);
	long r;

	if (fd < 0) {
		if (!quiet)
			dune_printf("dune: cannot open /dev/dune: %s\n", strerror((int)-fd));
		return (int)fd;
	}
	r = host_syscall6(SYS_ioctl, fd, DUNE_GET_LAYOUT, (long)layout, 0, 0, 0);
	if (r) {
		dune_printf("dune: DUNE_GET_LAYOUT failed: %s\n", strerror((int)-r));
		host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
		return (int)r;
	}
	return (int)fd;
}

/* The module ties a file's VM to one mm: the child opens its own, at the same fd number. */
static int dune_fork_child(int oldfd)
{
	long fd = host_syscall6(SYS_open, (long)"/dev/dune", O_RDWR | O_CLOEXEC, 0, 0, 0, 0);

	if (fd < 0)
		return (int)fd;
	if (fd != oldfd) {
		host_syscall6(SYS_dup3, fd, oldfd, O_CLOEXEC, 0, 0, 0);
		host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	}
	return 0;
}

static int dune_map(uintptr_t va, uint64_t len)
{
	(void)va;
	(void)len;
	return 0;	/* the module's EPT follows the layout and the host page tables by itself */
}

static void dune_unmap(uintptr_t va, uint64_t len)
{
	(void)va;
	(void)len;
}

static long dune_run(struct dune_thread *t)
{
	return host_syscall6(SYS_ioctl, dune_fd, DUNE_ENTER, (long)&t->conf, 0, 0, 0);
}

static long dune_queue_intr(struct dune_thread *t, unsigned int vec)
{
	__u32 v = vec;

	(void)t;
	return host_syscall6(SYS_ioctl, dune_fd, DUNE_QUEUE_INTR, (long)&v, 0, 0, 0);
}

static void dune_kick(struct dune_thread *t)
{
	(void)t;	/* the module checks for pending signals before every entry */
}

static void dune_vcpu_release(struct dune_thread *t)
{
	(void)t;	/* the module destroys the vCPU when its thread exits */
}

static long dune_get_stats_ioctl(struct dune_stats *st)
{
	return host_syscall6(SYS_ioctl, dune_fd, DUNE_GET_STATS, (long)st, 0, 0, 0);
}

const struct dune_backend dune_backend_dune = {
	.name = "dune",
	.exit_insn = DUNE_EXIT_VMCALL,
	.guest_fpu_in_thread = true,
	.open = dune_open,
	.fork_child = dune_fork_child,
	.map = dune_map,
	.unmap = dune_unmap,
	.run = dune_run,
	.queue_intr = dune_queue_intr,
	.kick = dune_kick,
	.vcpu_release = dune_vcpu_release,
	.get_stats = dune_get_stats_ioctl,
};
