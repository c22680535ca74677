/*
 * systab.h - the x86-64 system call table of the sandbox: for every call
 * Linux 6.1 defines, its name, its policy group, how the monitor treats it
 * and the signature of its arguments (which are file descriptors, paths,
 * buffers read or written by the kernel and how long they are, iovec
 * arrays, socket addresses, ...).  The argument checker (check.c) derives
 * every pointer and length check from these signatures, so a call with a
 * pointer argument cannot be passed through unchecked by omission.
 */
#ifndef SBX_SYSTAB_H
#define SBX_SYSTAB_H

#include <stdbool.h>
#include <stdint.h>

#define SBX_NR_MAX	451	/* one past the highest syscall number of Linux 6.1 x86-64 */

enum arg_kind {
	A_NONE = 0,
	A_INT,		/* integer, flags, mode, id: not checked */
	A_FD,		/* an open fd of the program (never one of the monitor's) */
	A_FD_W,		/* same, and it must have been opened where the policy allows writing */
	A_DIRFD,	/* AT_FDCWD or A_FD, base of the next A_PATH */
	A_NEWFD,	/* an fd number the call creates or replaces (dup2, dup3) */
	A_PATH,		/* NUL-terminated path: copied, resolved, checked against the policy */
	A_STR,		/* NUL-terminated string that is not a path (copied) */
	A_IN,		/* buffer the kernel reads; length in arg `param` */
	A_OUT,		/* buffer the kernel writes; length in arg `param` */
	A_INOUT,	/* both */
	A_IN_SZ,	/* struct the kernel reads, `size` bytes (NULL allowed) */
	A_OUT_SZ,	/* struct the kernel writes */
	A_INOUT_SZ,	/* both */
	A_IN_N,		/* array the kernel reads: count in arg `param`, `size` bytes each */
	A_OUT_N,	/* array the kernel writes */
	A_INOUT_N,	/* both */
	A_IOV_IN,	/* struct iovec[count in arg `param`], the buffers read */
	A_IOV_OUT,	/* struct iovec[], the buffers written */
	A_SOCKADDR_IN,	/* socket address read; length in arg `param` */
	A_SOCKADDR_OUT,	/* socket address written; arg `param` is its socklen_t * */
	A_LENP,		/* socklen_t * read and written */
	A_OUT_LENP,	/* buffer written; arg `param` is a socklen_t * holding its size (getsockopt) */
	A_MSGHDR_IN,	/* struct msghdr for sendmsg */
	A_MSGHDR_OUT,	/* struct msghdr for recvmsg */
	A_MMSG_IN,	/* struct mmsghdr[count in arg `param`] for sendmmsg */
	A_MMSG_OUT,	/* same for recvmmsg */
	A_FDSET,	/* fd_set sized by the nfds in arg `param` (select) */
	A_ADDR,		/* start of an address range of the program's; length in arg `param` */
	A_PTR,		/* a pointer the call's own handler checks */
	A_SIGSET,	/* sigset_t read; size in arg `param` (the kernel wants 8) */
};

/* Policy groups: "@name" in a policy's syscall lists. */
enum sbx_group {
	G_BASIC,	/* process basics every program needs */
	G_IO,		/* I/O on descriptors the program already has */
	G_FILE_READ,	/* reading the file system (paths checked against files.read/write) */
	G_FILE_WRITE,	/* changing the file system (paths checked against files.write) */
	G_MEMORY,	/* the program's own address space */
	G_SIGNAL,	/* signal handlers, masks, signals to itself and its children */
	G_TIME,		/* clocks, sleeps, timers */
	G_INFO,		/* ids, limits, system information (read only) */
	G_PROCESS,	/* fork, exec, wait (also governed by processes: and exec:) */
	G_THREAD,	/* futexes of threads, robust lists (also governed by threads:) */
	G_NETWORK,	/* sockets (also governed by network:) */
	G_IPC,		/* System V and POSIX IPC */
	G_SCHED,	/* scheduling and priorities of itself */
	G_CREDENTIALS,	/* changing uids, gids, capabilities */
	G_XATTR,	/* extended attributes */
	G_ADMIN,	/* administration: mounts, modules, clocks, reboot... (never allowed) */
	G_NEVER,	/* would reach the monitor or the host around it (never allowed) */
	G_UNIMPL,	/* not implemented by Linux x86-64 (ENOSYS) */
	G_COUNT
};

/* sc_desc.flags */
#define F_EMUL		0x01	/* emulated by the monitor: the host never sees the call as is */
#define F_PATH		0x02	/* takes paths: resolved and checked by paths.c, run relative to checked fds */
#define F_SPECIAL	0x04	/* the monitor checks more than the signature says (sub-commands, targets) */
#define F_NEWFD		0x08	/* returns a new descriptor */
#define F_ALWAYS	0x10	/* cannot be denied (exit, exit_group, rt_sigreturn) */
#define F_NOSYS		0x20	/* answered -ENOSYS by the sandbox (not supported inside it) */

struct sc_arg {
	uint8_t kind;		/* enum arg_kind */
	uint8_t param;		/* index of the length/count argument, where the kind has one */
	uint16_t size;		/* fixed size or element size, where the kind has one */
	const char *name;
};

struct sc_desc {
	const char *name;	/* NULL: no such system call */
	uint8_t group;		/* enum sbx_group */
	uint8_t flags;
	uint8_t nargs;
	struct sc_arg args[6];
};

extern const struct sc_desc sbx_systab[SBX_NR_MAX];
extern const char *const sbx_group_names[G_COUNT];

/* The descriptor of nr, or NULL if Linux x86-64 has no such call. */
static inline const struct sc_desc *sbx_syscall(uint64_t nr)
{
	return nr < SBX_NR_MAX && sbx_systab[nr].name ? &sbx_systab[nr] : 0;
}

/* Number of a call by name, -1 if unknown. */
int sbx_syscall_nr(const char *name);
/* Group number by name (without the '@'), -1 if unknown. */
int sbx_group_nr(const char *name);
/* Does this kind hold a pointer into the program's memory? */
bool sbx_kind_is_pointer(enum arg_kind k);

#endif
