/*
 * systab.c - signatures of every x86-64 system call of Linux 6.1 (see
 * systab.h).  Sizes are those of the x86-64 kernel ABI (struct stat 144,
 * struct timespec 16, struct rusage 144, siginfo 128, ...).  The host unit
 * tests check every number and name against the kernel's unistd_64.h.
 */
#include <string.h>

#include "systab.h"

#define I(n)		{ A_INT, 0, 0, n }
#define FD(n)		{ A_FD, 0, 0, n }
#define FDW(n)		{ A_FD_W, 0, 0, n }
#define DFD(n)		{ A_DIRFD, 0, 0, n }
#define NFD(n)		{ A_NEWFD, 0, 0, n }
#define PATH(n)		{ A_PATH, 0, 0, n }
#define STR(n)		{ A_STR, 0, 0, n }
#define IN(n, l)	{ A_IN, l, 0, n }
#define OUT(n, l)	{ A_OUT, l, 0, n }
#define INOUT(n, l)	{ A_INOUT, l, 0, n }
#define INS(n, s)	{ A_IN_SZ, 0, s, n }
#define OUTS(n, s)	{ A_OUT_SZ, 0, s, n }
#define IOS(n, s)	{ A_INOUT_SZ, 0, s, n }
#define INN(n, l, s)	{ A_IN_N, l, s, n }
#define OUTN(n, l, s)	{ A_OUT_N, l, s, n }
#define IONN(n, l, s)	{ A_INOUT_N, l, s, n }
#define IOVI(n, l)	{ A_IOV_IN, l, 0, n }
#define IOVO(n, l)	{ A_IOV_OUT, l, 0, n }
#define SAI(n, l)	{ A_SOCKADDR_IN, l, 0, n }
#define SAO(n, l)	{ A_SOCKADDR_OUT, l, 0, n }
#define LENP(n)		{ A_LENP, 0, 0, n }
#define OUTLP(n, l)	{ A_OUT_LENP, l, 0, n }
#define MSGI(n)		{ A_MSGHDR_IN, 0, 0, n }
#define MSGO(n)		{ A_MSGHDR_OUT, 0, 0, n }
#define MMSGI(n, l)	{ A_MMSG_IN, l, 0, n }
#define MMSGO(n, l)	{ A_MMSG_OUT, l, 0, n }
#define FDSET(n, l)	{ A_FDSET, l, 0, n }
#define ADDR(n, l)	{ A_ADDR, l, 0, n }
#define PTR(n)		{ A_PTR, 0, 0, n }
#define SIGSET(n, l)	{ A_SIGSET, l, 0, n }

#define SC(nr, nm, grp, fl, ...)						\
	[nr] = { #nm, grp, fl,							\
		 (uint8_t)(sizeof((struct sc_arg[]){ __VA_ARGS__ }) / sizeof(struct sc_arg)), \
		 { __VA_ARGS__ } }

/* kernel ABI sizes (x86-64) */
#define Z_STAT		144
#define Z_TIMESPEC	16
#define Z_TIMEVAL	16
#define Z_ITIMERVAL	32
#define Z_ITIMERSPEC	32
#define Z_RUSAGE	144
#define Z_SIGINFO	128
#define Z_RLIMIT	16
#define Z_UTSNAME	390
#define Z_SYSINFO	112
#define Z_TMS		32
#define Z_STATFS	120
#define Z_STATX		256
#define Z_SIGEVENT	64
#define Z_MQATTR	64
#define Z_EPOLL_EVENT	12
#define Z_POLLFD	8
#define Z_SEMBUF	6
#define Z_SHMID_DS	112
#define Z_MSQID_DS	120
#define Z_UTIMBUF	16
#define Z_TIMEZONE	8
#define Z_SCHED_PARAM	4
#define Z_CAP_HEADER	8
#define Z_CAP_DATA	24
#define Z_OPEN_HOW	24

const struct sc_desc sbx_systab[SBX_NR_MAX] = {
	SC(0, read, G_IO, 0, FD("fd"), OUT("buf", 2), I("count")),
	SC(1, write, G_IO, 0, FD("fd"), IN("buf", 2), I("count")),
	SC(2, open, G_FILE_READ, F_PATH | F_NEWFD, PATH("path"), I("flags"), I("mode")),
	SC(3, close, G_IO, F_SPECIAL, FD("fd")),
	SC(4, stat, G_FILE_READ, F_PATH, PATH("path"), OUTS("statbuf", Z_STAT)),
	SC(5, fstat, G_FILE_READ, 0, FD("fd"), OUTS("statbuf", Z_STAT)),
	SC(6, lstat, G_FILE_READ, F_PATH, PATH("path"), OUTS("statbuf", Z_STAT)),
	SC(7, poll, G_IO, 0, IONN("fds", 1, Z_POLLFD), I("nfds"), I("timeout")),
	SC(8, lseek, G_IO, 0, FD("fd"), I("offset"), I("whence")),
	SC(9, mmap, G_MEMORY, F_EMUL, PTR("addr"), I("length"), I("prot"), I("flags"), I("fd"), I("offset")),
	SC(10, mprotect, G_MEMORY, F_EMUL, ADDR("addr", 1), I("len"), I("prot")),
	SC(11, munmap, G_MEMORY, F_EMUL, ADDR("addr", 1), I("len")),
	SC(12, brk, G_MEMORY, F_EMUL, PTR("addr")),
	SC(13, rt_sigaction, G_SIGNAL, F_EMUL, I("sig"), PTR("act"), PTR("oact"), I("sigsetsize")),
	SC(14, rt_sigprocmask, G_SIGNAL, 0, I("how"), SIGSET("set", 3), OUT("oset", 3), I("sigsetsize")),
	SC(15, rt_sigreturn, G_SIGNAL, F_EMUL | F_ALWAYS),
	SC(16, ioctl, G_IO, F_SPECIAL, FD("fd"), I("request"), PTR("arg")),
	SC(17, pread64, G_IO, 0, FD("fd"), OUT("buf", 2), I("count"), I("offset")),
	SC(18, pwrite64, G_IO, 0, FD("fd"), IN("buf", 2), I("count"), I("offset")),
	SC(19, readv, G_IO, 0, FD("fd"), IOVO("iov", 2), I("iovcnt")),
	SC(20, writev, G_IO, 0, FD("fd"), IOVI("iov", 2), I("iovcnt")),
	SC(21, access, G_FILE_READ, F_PATH, PATH("path"), I("mode")),
	SC(22, pipe, G_IO, F_SPECIAL | F_NEWFD, OUTS("pipefd", 8)),
	SC(23, select, G_IO, 0, I("nfds"), FDSET("readfds", 0), FDSET("writefds", 0), FDSET("exceptfds", 0),
	   IOS("timeout", Z_TIMEVAL)),
	SC(24, sched_yield, G_BASIC, 0),
	SC(25, mremap, G_MEMORY, F_EMUL, ADDR("old_address", 1), I("old_size"), I("new_size"), I("flags"),
	   PTR("new_address")),
	SC(26, msync, G_MEMORY, 0, ADDR("addr", 1), I("length"), I("flags")),
	SC(27, mincore, G_MEMORY, F_EMUL, ADDR("addr", 1), I("length"), PTR("vec")),
	SC(28, madvise, G_MEMORY, F_EMUL, ADDR("addr", 1), I("length"), I("advice")),
	SC(29, shmget, G_IPC, 0, I("key"), I("size"), I("shmflg")),
	SC(30, shmat, G_IPC, F_EMUL, I("shmid"), PTR("shmaddr"), I("shmflg")),
	SC(31, shmctl, G_IPC, 0, I("shmid"), I("cmd"), IOS("buf", 128)),
	SC(32, dup, G_IO, F_NEWFD, FD("oldfd")),
	SC(33, dup2, G_IO, F_NEWFD, FD("oldfd"), NFD("newfd")),
	SC(34, pause, G_SIGNAL, 0),
	SC(35, nanosleep, G_TIME, 0, INS("req", Z_TIMESPEC), OUTS("rem", Z_TIMESPEC)),
	SC(36, getitimer, G_TIME, 0, I("which"), OUTS("curr_value", Z_ITIMERVAL)),
	SC(37, alarm, G_TIME, 0, I("seconds")),
	SC(38, setitimer, G_TIME, 0, I("which"), INS("new_value", Z_ITIMERVAL), OUTS("old_value", Z_ITIMERVAL)),
	SC(39, getpid, G_INFO, 0),
	SC(40, sendfile, G_IO, 0, FD("out_fd"), FD("in_fd"), IOS("offset", 8), I("count")),
	SC(41, socket, G_NETWORK, F_SPECIAL | F_NEWFD, I("domain"), I("type"), I("protocol")),
	SC(42, connect, G_NETWORK, F_SPECIAL, FD("sockfd"), SAI("addr", 2), I("addrlen")),
	SC(43, accept, G_NETWORK, F_NEWFD, FD("sockfd"), SAO("addr", 2), LENP("addrlen")),
	SC(44, sendto, G_NETWORK, F_SPECIAL, FD("sockfd"), IN("buf", 2), I("len"), I("flags"), SAI("dest_addr", 5),
	   I("addrlen")),
	SC(45, recvfrom, G_NETWORK, 0, FD("sockfd"), OUT("buf", 2), I("len"), I("flags"), SAO("src_addr", 5),
	   LENP("addrlen")),
	SC(46, sendmsg, G_NETWORK, F_SPECIAL, FD("sockfd"), MSGI("msg"), I("flags")),
	SC(47, recvmsg, G_NETWORK, F_SPECIAL, FD("sockfd"), MSGO("msg"), I("flags")),
	SC(48, shutdown, G_NETWORK, 0, FD("sockfd"), I("how")),
	SC(49, bind, G_NETWORK, F_SPECIAL, FD("sockfd"), SAI("addr", 2), I("addrlen")),
	SC(50, listen, G_NETWORK, F_SPECIAL, FD("sockfd"), I("backlog")),
	SC(51, getsockname, G_NETWORK, 0, FD("sockfd"), SAO("addr", 2), LENP("addrlen")),
	SC(52, getpeername, G_NETWORK, 0, FD("sockfd"), SAO("addr", 2), LENP("addrlen")),
	SC(53, socketpair, G_NETWORK, F_SPECIAL | F_NEWFD, I("domain"), I("type"), I("protocol"), OUTS("sv", 8)),
	SC(54, setsockopt, G_NETWORK, F_SPECIAL, FD("sockfd"), I("level"), I("optname"), IN("optval", 4),
	   I("optlen")),
	SC(55, getsockopt, G_NETWORK, F_SPECIAL, FD("sockfd"), I("level"), I("optname"), OUTLP("optval", 4),
	   LENP("optlen")),
	SC(56, clone, G_PROCESS, F_EMUL, I("flags"), PTR("stack"), PTR("parent_tid"), PTR("child_tid"), I("tls")),
	SC(57, fork, G_PROCESS, F_EMUL),
	SC(58, vfork, G_PROCESS, F_EMUL),
	SC(59, execve, G_PROCESS, F_EMUL | F_PATH, PATH("path"), PTR("argv"), PTR("envp")),
	SC(60, exit, G_BASIC, F_EMUL | F_ALWAYS, I("status")),
	SC(61, wait4, G_PROCESS, F_SPECIAL, I("pid"), OUTS("wstatus", 4), I("options"), OUTS("rusage", Z_RUSAGE)),
	SC(62, kill, G_SIGNAL, F_SPECIAL, I("pid"), I("sig")),
	SC(63, uname, G_INFO, 0, OUTS("buf", Z_UTSNAME)),
	SC(64, semget, G_IPC, 0, I("key"), I("nsems"), I("semflg")),
	SC(65, semop, G_IPC, 0, I("semid"), INN("sops", 2, Z_SEMBUF), I("nsops")),
	SC(66, semctl, G_IPC, F_SPECIAL, I("semid"), I("semnum"), I("cmd"), PTR("arg")),
	SC(67, shmdt, G_IPC, F_EMUL, PTR("shmaddr")),
	SC(68, msgget, G_IPC, 0, I("key"), I("msgflg")),
	SC(69, msgsnd, G_IPC, F_SPECIAL, I("msqid"), PTR("msgp"), I("msgsz"), I("msgflg")),
	SC(70, msgrcv, G_IPC, F_SPECIAL, I("msqid"), PTR("msgp"), I("msgsz"), I("msgtyp"), I("msgflg")),
	SC(71, msgctl, G_IPC, 0, I("msqid"), I("cmd"), IOS("buf", Z_MSQID_DS)),
	SC(72, fcntl, G_IO, F_SPECIAL, FD("fd"), I("cmd"), PTR("arg")),
	SC(73, flock, G_IO, 0, FD("fd"), I("operation")),
	SC(74, fsync, G_IO, 0, FD("fd")),
	SC(75, fdatasync, G_IO, 0, FD("fd")),
	SC(76, truncate, G_FILE_WRITE, F_PATH, PATH("path"), I("length")),
	SC(77, ftruncate, G_FILE_WRITE, 0, FDW("fd"), I("length")),
	SC(78, getdents, G_FILE_READ, 0, FD("fd"), OUT("dirp", 2), I("count")),
	SC(79, getcwd, G_FILE_READ, 0, OUT("buf", 1), I("size")),
	SC(80, chdir, G_FILE_READ, F_PATH, PATH("path")),
	SC(81, fchdir, G_FILE_READ, F_SPECIAL, FD("fd")),
	SC(82, rename, G_FILE_WRITE, F_PATH, PATH("oldpath"), PATH("newpath")),
	SC(83, mkdir, G_FILE_WRITE, F_PATH, PATH("path"), I("mode")),
	SC(84, rmdir, G_FILE_WRITE, F_PATH, PATH("path")),
	SC(85, creat, G_FILE_WRITE, F_PATH | F_NEWFD, PATH("path"), I("mode")),
	SC(86, link, G_FILE_WRITE, F_PATH, PATH("oldpath"), PATH("newpath")),
	SC(87, unlink, G_FILE_WRITE, F_PATH, PATH("path")),
	SC(88, symlink, G_FILE_WRITE, F_PATH, STR("target"), PATH("linkpath")),
	SC(89, readlink, G_FILE_READ, F_PATH, PATH("path"), OUT("buf", 2), I("bufsiz")),
	SC(90, chmod, G_FILE_WRITE, F_PATH, PATH("path"), I("mode")),
	SC(91, fchmod, G_FILE_WRITE, 0, FDW("fd"), I("mode")),
	SC(92, chown, G_FILE_WRITE, F_PATH, PATH("path"), I("owner"), I("group")),
	SC(93, fchown, G_FILE_WRITE, 0, FDW("fd"), I("owner"), I("group")),
	SC(94, lchown, G_FILE_WRITE, F_PATH, PATH("path"), I("owner"), I("group")),
	SC(95, umask, G_BASIC, 0, I("mask")),
	SC(96, gettimeofday, G_TIME, 0, OUTS("tv", Z_TIMEVAL), OUTS("tz", Z_TIMEZONE)),
	SC(97, getrlimit, G_INFO, 0, I("resource"), OUTS("rlim", Z_RLIMIT)),
	SC(98, getrusage, G_INFO, 0, I("who"), OUTS("usage", Z_RUSAGE)),
	SC(99, sysinfo, G_INFO, 0, OUTS("info", Z_SYSINFO)),
	SC(100, times, G_TIME, 0, OUTS("buf", Z_TMS)),
	SC(101, ptrace, G_NEVER, 0, I("request"), I("pid"), PTR("addr"), PTR("data")),
	SC(102, getuid, G_INFO, 0),
	SC(103, syslog, G_ADMIN, 0, I("type"), PTR("bufp"), I("len")),
	SC(104, getgid, G_INFO, 0),
	SC(105, setuid, G_CREDENTIALS, 0, I("uid")),
	SC(106, setgid, G_CREDENTIALS, 0, I("gid")),
	SC(107, geteuid, G_INFO, 0),
	SC(108, getegid, G_INFO, 0),
	SC(109, setpgid, G_PROCESS, F_SPECIAL, I("pid"), I("pgid")),
	SC(110, getppid, G_INFO, 0),
	SC(111, getpgrp, G_INFO, 0),
	SC(112, setsid, G_PROCESS, 0),
	SC(113, setreuid, G_CREDENTIALS, 0, I("ruid"), I("euid")),
	SC(114, setregid, G_CREDENTIALS, 0, I("rgid"), I("egid")),
	SC(115, getgroups, G_INFO, 0, I("size"), OUTN("list", 0, 4)),
	SC(116, setgroups, G_CREDENTIALS, 0, I("size"), INN("list", 0, 4)),
	SC(117, setresuid, G_CREDENTIALS, 0, I("ruid"), I("euid"), I("suid")),
	SC(118, getresuid, G_INFO, 0, OUTS("ruid", 4), OUTS("euid", 4), OUTS("suid", 4)),
	SC(119, setresgid, G_CREDENTIALS, 0, I("rgid"), I("egid"), I("sgid")),
	SC(120, getresgid, G_INFO, 0, OUTS("rgid", 4), OUTS("egid", 4), OUTS("sgid", 4)),
	SC(121, getpgid, G_INFO, 0, I("pid")),
	SC(122, setfsuid, G_CREDENTIALS, 0, I("fsuid")),
	SC(123, setfsgid, G_CREDENTIALS, 0, I("fsgid")),
	SC(124, getsid, G_INFO, 0, I("pid")),
	SC(125, capget, G_INFO, 0, IOS("hdrp", Z_CAP_HEADER), OUTS("datap", Z_CAP_DATA)),
	SC(126, capset, G_CREDENTIALS, 0, IOS("hdrp", Z_CAP_HEADER), INS("datap", Z_CAP_DATA)),
	SC(127, rt_sigpending, G_SIGNAL, 0, OUT("set", 1), I("sigsetsize")),
	SC(128, rt_sigtimedwait, G_SIGNAL, 0, SIGSET("set", 3), OUTS("info", Z_SIGINFO), INS("timeout", Z_TIMESPEC),
	   I("sigsetsize")),
	SC(129, rt_sigqueueinfo, G_SIGNAL, F_SPECIAL, I("tgid"), I("sig"), INS("info", Z_SIGINFO)),
	SC(130, rt_sigsuspend, G_SIGNAL, 0, SIGSET("mask", 1), I("sigsetsize")),
	SC(131, sigaltstack, G_SIGNAL, F_EMUL, PTR("ss"), PTR("old_ss")),
	SC(132, utime, G_FILE_WRITE, F_PATH, PATH("path"), INS("times", Z_UTIMBUF)),
	SC(133, mknod, G_FILE_WRITE, F_PATH, PATH("path"), I("mode"), I("dev")),
	SC(134, uselib, G_NEVER, 0, PATH("library")),
	SC(135, personality, G_INFO, F_SPECIAL, I("persona")),
	SC(136, ustat, G_INFO, 0, I("dev"), OUTS("ubuf", 32)),
	SC(137, statfs, G_FILE_READ, F_PATH, PATH("path"), OUTS("buf", Z_STATFS)),
	SC(138, fstatfs, G_FILE_READ, 0, FD("fd"), OUTS("buf", Z_STATFS)),
	SC(139, sysfs, G_NEVER, 0, I("option"), PTR("arg1"), PTR("arg2")),
	SC(140, getpriority, G_INFO, 0, I("which"), I("who")),
	SC(141, setpriority, G_SCHED, F_SPECIAL, I("which"), I("who"), I("prio")),
	SC(142, sched_setparam, G_SCHED, F_SPECIAL, I("pid"), INS("param", Z_SCHED_PARAM)),
	SC(143, sched_getparam, G_INFO, 0, I("pid"), OUTS("param", Z_SCHED_PARAM)),
	SC(144, sched_setscheduler, G_SCHED, F_SPECIAL, I("pid"), I("policy"), INS("param", Z_SCHED_PARAM)),
	SC(145, sched_getscheduler, G_INFO, 0, I("pid")),
	SC(146, sched_get_priority_max, G_INFO, 0, I("policy")),
	SC(147, sched_get_priority_min, G_INFO, 0, I("policy")),
	SC(148, sched_rr_get_interval, G_INFO, 0, I("pid"), OUTS("tp", Z_TIMESPEC)),
	SC(149, mlock, G_MEMORY, 0, ADDR("addr", 1), I("len")),
	SC(150, munlock, G_MEMORY, 0, ADDR("addr", 1), I("len")),
	SC(151, mlockall, G_NEVER, 0, I("flags")),
	SC(152, munlockall, G_MEMORY, 0),
	SC(153, vhangup, G_ADMIN, 0),
	SC(154, modify_ldt, G_NEVER, 0, I("func"), PTR("ptr"), I("bytecount")),
	SC(155, pivot_root, G_ADMIN, 0, PATH("new_root"), PATH("put_old")),
	SC(156, _sysctl, G_ADMIN, 0, PTR("args")),
	SC(157, prctl, G_BASIC, F_SPECIAL, I("option"), I("arg2"), I("arg3"), I("arg4"), I("arg5")),
	SC(158, arch_prctl, G_BASIC, F_EMUL, I("code"), PTR("addr")),
	SC(159, adjtimex, G_ADMIN, 0, PTR("buf")),
	SC(160, setrlimit, G_INFO, F_SPECIAL, I("resource"), INS("rlim", Z_RLIMIT)),
	SC(161, chroot, G_ADMIN, 0, PATH("path")),
	SC(162, sync, G_IO, 0),
	SC(163, acct, G_ADMIN, 0, PATH("filename")),
	SC(164, settimeofday, G_ADMIN, 0, INS("tv", Z_TIMEVAL), INS("tz", Z_TIMEZONE)),
	SC(165, mount, G_ADMIN, 0, PATH("source"), PATH("target"), STR("filesystemtype"), I("mountflags"),
	   PTR("data")),
	SC(166, umount2, G_ADMIN, 0, PATH("target"), I("flags")),
	SC(167, swapon, G_ADMIN, 0, PATH("path"), I("swapflags")),
	SC(168, swapoff, G_ADMIN, 0, PATH("path")),
	SC(169, reboot, G_ADMIN, 0, I("magic"), I("magic2"), I("cmd"), PTR("arg")),
	SC(170, sethostname, G_ADMIN, 0, IN("name", 1), I("len")),
	SC(171, setdomainname, G_ADMIN, 0, IN("name", 1), I("len")),
	SC(172, iopl, G_NEVER, 0, I("level")),
	SC(173, ioperm, G_NEVER, 0, I("from"), I("num"), I("turn_on")),
	SC(174, create_module, G_UNIMPL, F_NOSYS),
	SC(175, init_module, G_ADMIN, 0, IN("module_image", 1), I("len"), STR("param_values")),
	SC(176, delete_module, G_ADMIN, 0, STR("name"), I("flags")),
	SC(177, get_kernel_syms, G_UNIMPL, F_NOSYS),
	SC(178, query_module, G_UNIMPL, F_NOSYS),
	SC(179, quotactl, G_ADMIN, 0, I("cmd"), PATH("special"), I("id"), PTR("addr")),
	SC(180, nfsservctl, G_UNIMPL, F_NOSYS),
	SC(181, getpmsg, G_UNIMPL, F_NOSYS),
	SC(182, putpmsg, G_UNIMPL, F_NOSYS),
	SC(183, afs_syscall, G_UNIMPL, F_NOSYS),
	SC(184, tuxcall, G_UNIMPL, F_NOSYS),
	SC(185, security, G_UNIMPL, F_NOSYS),
	SC(186, gettid, G_INFO, 0),
	SC(187, readahead, G_IO, 0, FD("fd"), I("offset"), I("count")),
	SC(188, setxattr, G_XATTR, F_PATH, PATH("path"), STR("name"), IN("value", 3), I("size"), I("flags")),
	SC(189, lsetxattr, G_XATTR, F_PATH, PATH("path"), STR("name"), IN("value", 3), I("size"), I("flags")),
	SC(190, fsetxattr, G_XATTR, 0, FDW("fd"), STR("name"), IN("value", 3), I("size"), I("flags")),
	SC(191, getxattr, G_XATTR, F_PATH, PATH("path"), STR("name"), OUT("value", 3), I("size")),
	SC(192, lgetxattr, G_XATTR, F_PATH, PATH("path"), STR("name"), OUT("value", 3), I("size")),
	SC(193, fgetxattr, G_XATTR, 0, FD("fd"), STR("name"), OUT("value", 3), I("size")),
	SC(194, listxattr, G_XATTR, F_PATH, PATH("path"), OUT("list", 2), I("size")),
	SC(195, llistxattr, G_XATTR, F_PATH, PATH("path"), OUT("list", 2), I("size")),
	SC(196, flistxattr, G_XATTR, 0, FD("fd"), OUT("list", 2), I("size")),
	SC(197, removexattr, G_XATTR, F_PATH, PATH("path"), STR("name")),
	SC(198, lremovexattr, G_XATTR, F_PATH, PATH("path"), STR("name")),
	SC(199, fremovexattr, G_XATTR, 0, FDW("fd"), STR("name")),
	SC(200, tkill, G_SIGNAL, F_SPECIAL, I("tid"), I("sig")),
	SC(201, time, G_TIME, 0, OUTS("tloc", 8)),
	SC(202, futex, G_BASIC, F_SPECIAL, PTR("uaddr"), I("futex_op"), I("val"), PTR("timeout"), PTR("uaddr2"),
	   I("val3")),
	SC(203, sched_setaffinity, G_SCHED, F_SPECIAL, I("pid"), I("cpusetsize"), IN("mask", 1)),
	SC(204, sched_getaffinity, G_INFO, 0, I("pid"), I("cpusetsize"), OUT("mask", 1)),
	SC(205, set_thread_area, G_NEVER, 0, PTR("u_info")),
	SC(206, io_setup, G_NEVER, 0, I("nr_events"), PTR("ctx_idp")),
	SC(207, io_destroy, G_NEVER, 0, I("ctx_id")),
	SC(208, io_getevents, G_NEVER, 0, I("ctx_id"), I("min_nr"), I("nr"), PTR("events"), PTR("timeout")),
	SC(209, io_submit, G_NEVER, 0, I("ctx_id"), I("nr"), PTR("iocbpp")),
	SC(210, io_cancel, G_NEVER, 0, I("ctx_id"), PTR("iocb"), PTR("result")),
	SC(211, get_thread_area, G_NEVER, 0, PTR("u_info")),
	SC(212, lookup_dcookie, G_ADMIN, 0, I("cookie"), PTR("buffer"), I("len")),
	SC(213, epoll_create, G_IO, F_NEWFD, I("size")),
	SC(214, epoll_ctl_old, G_UNIMPL, F_NOSYS),
	SC(215, epoll_wait_old, G_UNIMPL, F_NOSYS),
	SC(216, remap_file_pages, G_NEVER, 0, ADDR("addr", 1), I("size"), I("prot"), I("pgoff"), I("flags")),
	SC(217, getdents64, G_FILE_READ, 0, FD("fd"), OUT("dirp", 2), I("count")),
	SC(218, set_tid_address, G_BASIC, F_EMUL, PTR("tidptr")),
	SC(219, restart_syscall, G_BASIC, 0),
	SC(220, semtimedop, G_IPC, 0, I("semid"), INN("sops", 2, Z_SEMBUF), I("nsops"), INS("timeout", Z_TIMESPEC)),
	SC(221, fadvise64, G_IO, 0, FD("fd"), I("offset"), I("len"), I("advice")),
	SC(222, timer_create, G_TIME, F_SPECIAL, I("clockid"), PTR("sevp"), OUTS("timerid", 4)),
	SC(223, timer_settime, G_TIME, 0, I("timerid"), I("flags"), INS("new_value", Z_ITIMERSPEC),
	   OUTS("old_value", Z_ITIMERSPEC)),
	SC(224, timer_gettime, G_TIME, 0, I("timerid"), OUTS("curr_value", Z_ITIMERSPEC)),
	SC(225, timer_getoverrun, G_TIME, 0, I("timerid")),
	SC(226, timer_delete, G_TIME, 0, I("timerid")),
	SC(227, clock_settime, G_ADMIN, 0, I("clockid"), INS("tp", Z_TIMESPEC)),
	SC(228, clock_gettime, G_TIME, 0, I("clockid"), OUTS("tp", Z_TIMESPEC)),
	SC(229, clock_getres, G_TIME, 0, I("clockid"), OUTS("res", Z_TIMESPEC)),
	SC(230, clock_nanosleep, G_TIME, 0, I("clockid"), I("flags"), INS("request", Z_TIMESPEC),
	   OUTS("remain", Z_TIMESPEC)),
	SC(231, exit_group, G_BASIC, F_EMUL | F_ALWAYS, I("status")),
	SC(232, epoll_wait, G_IO, 0, FD("epfd"), OUTN("events", 2, Z_EPOLL_EVENT), I("maxevents"), I("timeout")),
	SC(233, epoll_ctl, G_IO, 0, FD("epfd"), I("op"), FD("fd"), IOS("event", Z_EPOLL_EVENT)),
	SC(234, tgkill, G_SIGNAL, F_SPECIAL, I("tgid"), I("tid"), I("sig")),
	SC(235, utimes, G_FILE_WRITE, F_PATH, PATH("path"), INS("times", 2 * Z_TIMEVAL)),
	SC(236, vserver, G_UNIMPL, F_NOSYS),
	SC(237, mbind, G_NEVER, 0, ADDR("addr", 1), I("len"), I("mode"), PTR("nodemask"), I("maxnode"), I("flags")),
	SC(238, set_mempolicy, G_NEVER, 0, I("mode"), PTR("nodemask"), I("maxnode")),
	SC(239, get_mempolicy, G_NEVER, 0, PTR("mode"), PTR("nodemask"), I("maxnode"), PTR("addr"), I("flags")),
	SC(240, mq_open, G_IPC, F_SPECIAL | F_NEWFD, STR("name"), I("oflag"), I("mode"), INS("attr", Z_MQATTR)),
	SC(241, mq_unlink, G_IPC, 0, STR("name")),
	SC(242, mq_timedsend, G_IPC, 0, FD("mqdes"), IN("msg_ptr", 2), I("msg_len"), I("msg_prio"),
	   INS("abs_timeout", Z_TIMESPEC)),
	SC(243, mq_timedreceive, G_IPC, 0, FD("mqdes"), OUT("msg_ptr", 2), I("msg_len"), OUTS("msg_prio", 4),
	   INS("abs_timeout", Z_TIMESPEC)),
	SC(244, mq_notify, G_IPC, F_SPECIAL, FD("mqdes"), PTR("sevp")),
	SC(245, mq_getsetattr, G_IPC, 0, FD("mqdes"), INS("newattr", Z_MQATTR), OUTS("oldattr", Z_MQATTR)),
	SC(246, kexec_load, G_ADMIN, 0, I("entry"), I("nr_segments"), PTR("segments"), I("flags")),
	SC(247, waitid, G_PROCESS, 0, I("idtype"), I("id"), OUTS("infop", Z_SIGINFO), I("options"),
	   OUTS("rusage", Z_RUSAGE)),
	SC(248, add_key, G_ADMIN, 0, STR("type"), STR("description"), IN("payload", 3), I("plen"), I("keyring")),
	SC(249, request_key, G_ADMIN, 0, STR("type"), STR("description"), STR("callout_info"), I("dest_keyring")),
	SC(250, keyctl, G_ADMIN, 0, I("operation"), I("arg2"), I("arg3"), I("arg4"), I("arg5")),
	SC(251, ioprio_set, G_SCHED, F_SPECIAL, I("which"), I("who"), I("ioprio")),
	SC(252, ioprio_get, G_INFO, 0, I("which"), I("who")),
	SC(253, inotify_init, G_IO, F_NEWFD),
	SC(254, inotify_add_watch, G_FILE_READ, F_PATH, FD("fd"), PATH("path"), I("mask")),
	SC(255, inotify_rm_watch, G_IO, 0, FD("fd"), I("wd")),
	SC(256, migrate_pages, G_NEVER, 0, I("pid"), I("maxnode"), PTR("old_nodes"), PTR("new_nodes")),
	SC(257, openat, G_FILE_READ, F_PATH | F_NEWFD, DFD("dirfd"), PATH("path"), I("flags"), I("mode")),
	SC(258, mkdirat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), I("mode")),
	SC(259, mknodat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), I("mode"), I("dev")),
	SC(260, fchownat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), I("owner"), I("group"), I("flags")),
	SC(261, futimesat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), INS("times", 2 * Z_TIMEVAL)),
	SC(262, newfstatat, G_FILE_READ, F_PATH, DFD("dirfd"), PATH("path"), OUTS("statbuf", Z_STAT), I("flags")),
	SC(263, unlinkat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), I("flags")),
	SC(264, renameat, G_FILE_WRITE, F_PATH, DFD("olddirfd"), PATH("oldpath"), DFD("newdirfd"), PATH("newpath")),
	SC(265, linkat, G_FILE_WRITE, F_PATH, DFD("olddirfd"), PATH("oldpath"), DFD("newdirfd"), PATH("newpath"),
	   I("flags")),
	SC(266, symlinkat, G_FILE_WRITE, F_PATH, STR("target"), DFD("newdirfd"), PATH("linkpath")),
	SC(267, readlinkat, G_FILE_READ, F_PATH, DFD("dirfd"), PATH("path"), OUT("buf", 3), I("bufsiz")),
	SC(268, fchmodat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), I("mode"), I("flags")),
	SC(269, faccessat, G_FILE_READ, F_PATH, DFD("dirfd"), PATH("path"), I("mode")),
	SC(270, pselect6, G_IO, F_SPECIAL, I("nfds"), FDSET("readfds", 0), FDSET("writefds", 0),
	   FDSET("exceptfds", 0), IOS("timeout", Z_TIMESPEC), PTR("sigmask")),
	SC(271, ppoll, G_IO, 0, IONN("fds", 1, Z_POLLFD), I("nfds"), IOS("tmo_p", Z_TIMESPEC), SIGSET("sigmask", 4),
	   I("sigsetsize")),
	SC(272, unshare, G_NEVER, 0, I("flags")),
	SC(273, set_robust_list, G_BASIC, F_EMUL, PTR("head"), I("len")),
	SC(274, get_robust_list, G_NEVER, 0, I("pid"), PTR("head_ptr"), PTR("len_ptr")),
	SC(275, splice, G_IO, 0, FD("fd_in"), IOS("off_in", 8), FD("fd_out"), IOS("off_out", 8), I("len"), I("flags")),
	SC(276, tee, G_IO, 0, FD("fd_in"), FD("fd_out"), I("len"), I("flags")),
	SC(277, sync_file_range, G_IO, 0, FD("fd"), I("offset"), I("nbytes"), I("flags")),
	SC(278, vmsplice, G_IO, F_SPECIAL, FD("fd"), IOVI("iov", 2), I("nr_segs"), I("flags")),
	SC(279, move_pages, G_NEVER, 0, I("pid"), I("count"), PTR("pages"), PTR("nodes"), PTR("status"), I("flags")),
	SC(280, utimensat, G_FILE_WRITE, F_PATH, DFD("dirfd"), PATH("path"), INS("times", 2 * Z_TIMESPEC), I("flags")),
	SC(281, epoll_pwait, G_IO, 0, FD("epfd"), OUTN("events", 2, Z_EPOLL_EVENT), I("maxevents"), I("timeout"),
	   SIGSET("sigmask", 5), I("sigsetsize")),
	SC(282, signalfd, G_SIGNAL, F_NEWFD, I("fd"), SIGSET("mask", 2), I("sizemask")),
	SC(283, timerfd_create, G_TIME, F_NEWFD, I("clockid"), I("flags")),
	SC(284, eventfd, G_IO, F_NEWFD, I("initval")),
	SC(285, fallocate, G_IO, 0, FDW("fd"), I("mode"), I("offset"), I("len")),
	SC(286, timerfd_settime, G_TIME, 0, FD("fd"), I("flags"), INS("new_value", Z_ITIMERSPEC),
	   OUTS("old_value", Z_ITIMERSPEC)),
	SC(287, timerfd_gettime, G_TIME, 0, FD("fd"), OUTS("curr_value", Z_ITIMERSPEC)),
	SC(288, accept4, G_NETWORK, F_NEWFD, FD("sockfd"), SAO("addr", 2), LENP("addrlen"), I("flags")),
	SC(289, signalfd4, G_SIGNAL, F_NEWFD, I("fd"), SIGSET("mask", 2), I("sizemask"), I("flags")),
	SC(290, eventfd2, G_IO, F_NEWFD, I("initval"), I("flags")),
	SC(291, epoll_create1, G_IO, F_NEWFD, I("flags")),
	SC(292, dup3, G_IO, F_NEWFD, FD("oldfd"), NFD("newfd"), I("flags")),
	SC(293, pipe2, G_IO, F_SPECIAL | F_NEWFD, OUTS("pipefd", 8), I("flags")),
	SC(294, inotify_init1, G_IO, F_NEWFD, I("flags")),
	SC(295, preadv, G_IO, 0, FD("fd"), IOVO("iov", 2), I("iovcnt"), I("pos_l"), I("pos_h")),
	SC(296, pwritev, G_IO, 0, FD("fd"), IOVI("iov", 2), I("iovcnt"), I("pos_l"), I("pos_h")),
	SC(297, rt_tgsigqueueinfo, G_SIGNAL, F_SPECIAL, I("tgid"), I("tid"), I("sig"), INS("info", Z_SIGINFO)),
	SC(298, perf_event_open, G_NEVER, 0, PTR("attr"), I("pid"), I("cpu"), I("group_fd"), I("flags")),
	SC(299, recvmmsg, G_NETWORK, F_SPECIAL, FD("sockfd"), MMSGO("msgvec", 2), I("vlen"), I("flags"),
	   IOS("timeout", Z_TIMESPEC)),
	SC(300, fanotify_init, G_ADMIN, 0, I("flags"), I("event_f_flags")),
	SC(301, fanotify_mark, G_ADMIN, 0, FD("fanotify_fd"), I("flags"), I("mask"), DFD("dirfd"), PATH("path")),
	SC(302, prlimit64, G_INFO, F_SPECIAL, I("pid"), I("resource"), INS("new_limit", Z_RLIMIT),
	   OUTS("old_limit", Z_RLIMIT)),
	SC(303, name_to_handle_at, G_NEVER, 0, DFD("dirfd"), PATH("path"), PTR("handle"), PTR("mount_id"),
	   I("flags")),
	SC(304, open_by_handle_at, G_NEVER, 0, I("mount_fd"), PTR("handle"), I("flags")),
	SC(305, clock_adjtime, G_ADMIN, 0, I("clockid"), PTR("buf")),
	SC(306, syncfs, G_IO, 0, FD("fd")),
	SC(307, sendmmsg, G_NETWORK, F_SPECIAL, FD("sockfd"), MMSGI("msgvec", 2), I("vlen"), I("flags")),
	SC(308, setns, G_NEVER, 0, I("fd"), I("nstype")),
	SC(309, getcpu, G_INFO, 0, OUTS("cpu", 4), OUTS("node", 4), I("tcache")),
	SC(310, process_vm_readv, G_NEVER, 0, I("pid"), PTR("local_iov"), I("liovcnt"), PTR("remote_iov"),
	   I("riovcnt"), I("flags")),
	SC(311, process_vm_writev, G_NEVER, 0, I("pid"), PTR("local_iov"), I("liovcnt"), PTR("remote_iov"),
	   I("riovcnt"), I("flags")),
	SC(312, kcmp, G_NEVER, 0, I("pid1"), I("pid2"), I("type"), I("idx1"), I("idx2")),
	SC(313, finit_module, G_ADMIN, 0, I("fd"), STR("param_values"), I("flags")),
	SC(314, sched_setattr, G_SCHED, F_SPECIAL, I("pid"), PTR("attr"), I("flags")),
	SC(315, sched_getattr, G_INFO, 0, I("pid"), OUT("attr", 2), I("size"), I("flags")),
	SC(316, renameat2, G_FILE_WRITE, F_PATH, DFD("olddirfd"), PATH("oldpath"), DFD("newdirfd"), PATH("newpath"),
	   I("flags")),
	SC(317, seccomp, G_NEVER, 0, I("operation"), I("flags"), PTR("args")),
	SC(318, getrandom, G_BASIC, 0, OUT("buf", 1), I("buflen"), I("flags")),
	SC(319, memfd_create, G_IO, F_NEWFD, STR("name"), I("flags")),
	SC(320, kexec_file_load, G_ADMIN, 0, I("kernel_fd"), I("initrd_fd"), I("cmdline_len"), PTR("cmdline"),
	   I("flags")),
	SC(321, bpf, G_NEVER, 0, I("cmd"), PTR("attr"), I("size")),
	SC(322, execveat, G_PROCESS, F_EMUL | F_PATH, DFD("dirfd"), PATH("path"), PTR("argv"), PTR("envp"),
	   I("flags")),
	SC(323, userfaultfd, G_NEVER, 0, I("flags")),
	SC(324, membarrier, G_BASIC, 0, I("cmd"), I("flags"), I("cpu_id")),
	SC(325, mlock2, G_MEMORY, 0, ADDR("addr", 1), I("len"), I("flags")),
	SC(326, copy_file_range, G_IO, 0, FD("fd_in"), IOS("off_in", 8), FD("fd_out"), IOS("off_out", 8), I("len"),
	   I("flags")),
	SC(327, preadv2, G_IO, 0, FD("fd"), IOVO("iov", 2), I("iovcnt"), I("pos_l"), I("pos_h"), I("flags")),
	SC(328, pwritev2, G_IO, 0, FD("fd"), IOVI("iov", 2), I("iovcnt"), I("pos_l"), I("pos_h"), I("flags")),
	SC(329, pkey_mprotect, G_MEMORY, F_EMUL, ADDR("addr", 1), I("len"), I("prot"), I("pkey")),
	SC(330, pkey_alloc, G_MEMORY, F_EMUL, I("flags"), I("access_rights")),
	SC(331, pkey_free, G_MEMORY, F_EMUL, I("pkey")),
	SC(332, statx, G_FILE_READ, F_PATH, DFD("dirfd"), PATH("path"), I("flags"), I("mask"),
	   OUTS("statxbuf", Z_STATX)),
	SC(333, io_pgetevents, G_NEVER, 0, I("ctx_id"), I("min_nr"), I("nr"), PTR("events"), PTR("timeout"),
	   PTR("usig")),
	SC(334, rseq, G_BASIC, F_EMUL, PTR("rseq"), I("rseq_len"), I("flags"), I("sig")),
	SC(424, pidfd_send_signal, G_NEVER, 0, I("pidfd"), I("sig"), PTR("info"), I("flags")),
	SC(425, io_uring_setup, G_NEVER, 0, I("entries"), PTR("p")),
	SC(426, io_uring_enter, G_NEVER, 0, I("fd"), I("to_submit"), I("min_complete"), I("flags"), PTR("sig"),
	   I("sz")),
	SC(427, io_uring_register, G_NEVER, 0, I("fd"), I("opcode"), PTR("arg"), I("nr_args")),
	SC(428, open_tree, G_ADMIN, 0, DFD("dfd"), PATH("filename"), I("flags")),
	SC(429, move_mount, G_ADMIN, 0, DFD("from_dfd"), PATH("from_path"), DFD("to_dfd"), PATH("to_path"),
	   I("flags")),
	SC(430, fsopen, G_ADMIN, 0, STR("fsname"), I("flags")),
	SC(431, fsconfig, G_ADMIN, 0, I("fd"), I("cmd"), PTR("key"), PTR("value"), I("aux")),
	SC(432, fsmount, G_ADMIN, 0, I("fs_fd"), I("flags"), I("attr_flags")),
	SC(433, fspick, G_ADMIN, 0, DFD("dfd"), PATH("path"), I("flags")),
	SC(434, pidfd_open, G_NEVER, 0, I("pid"), I("flags")),
	SC(435, clone3, G_PROCESS, F_NOSYS, PTR("cl_args"), I("size")),	/* glibc falls back to clone */
	SC(436, close_range, G_IO, F_SPECIAL, I("first"), I("last"), I("flags")),
	SC(437, openat2, G_FILE_READ, F_PATH | F_NEWFD, DFD("dirfd"), PATH("path"), INS("how", Z_OPEN_HOW),
	   I("size")),
	SC(438, pidfd_getfd, G_NEVER, 0, I("pidfd"), I("targetfd"), I("flags")),
	SC(439, faccessat2, G_FILE_READ, F_PATH, DFD("dirfd"), PATH("path"), I("mode"), I("flags")),
	SC(440, process_madvise, G_NEVER, 0, I("pidfd"), PTR("iovec"), I("vlen"), I("advice"), I("flags")),
	SC(441, epoll_pwait2, G_IO, 0, FD("epfd"), OUTN("events", 2, Z_EPOLL_EVENT), I("maxevents"),
	   INS("timeout", Z_TIMESPEC), SIGSET("sigmask", 5), I("sigsetsize")),
	SC(442, mount_setattr, G_ADMIN, 0, DFD("dfd"), PATH("path"), I("flags"), PTR("uattr"), I("usize")),
	SC(443, quotactl_fd, G_ADMIN, 0, I("fd"), I("cmd"), I("id"), PTR("addr")),
	SC(444, landlock_create_ruleset, G_NEVER, 0, PTR("attr"), I("size"), I("flags")),
	SC(445, landlock_add_rule, G_NEVER, 0, I("ruleset_fd"), I("rule_type"), PTR("rule_attr"), I("flags")),
	SC(446, landlock_restrict_self, G_NEVER, 0, I("ruleset_fd"), I("flags")),
	SC(447, memfd_secret, G_NEVER, 0, I("flags")),
	SC(448, process_mrelease, G_NEVER, 0, I("pidfd"), I("flags")),
	SC(449, futex_waitv, G_THREAD, F_NOSYS, PTR("waiters"), I("nr_futexes"), I("flags"), PTR("timeout"),
	   I("clockid")),
	SC(450, set_mempolicy_home_node, G_NEVER, 0, I("start"), I("len"), I("home_node"), I("flags")),
};

const char *const sbx_group_names[G_COUNT] = {
	[G_BASIC] = "basic",
	[G_IO] = "io",
	[G_FILE_READ] = "file-read",
	[G_FILE_WRITE] = "file-write",
	[G_MEMORY] = "memory",
	[G_SIGNAL] = "signal",
	[G_TIME] = "time",
	[G_INFO] = "info",
	[G_PROCESS] = "process",
	[G_THREAD] = "thread",
	[G_NETWORK] = "network",
	[G_IPC] = "ipc",
	[G_SCHED] = "sched",
	[G_CREDENTIALS] = "credentials",
	[G_XATTR] = "xattr",
	[G_ADMIN] = "admin",
	[G_NEVER] = "never",
	[G_UNIMPL] = "unimplemented",
};

int sbx_syscall_nr(const char *name)
{
	int i;

	for (i = 0; i < SBX_NR_MAX; i++)
		if (sbx_systab[i].name && !strcmp(sbx_systab[i].name, name))
			return i;
	return -1;
}

int sbx_group_nr(const char *name)
{
	int i;

	for (i = 0; i < G_COUNT; i++)
		if (!strcmp(sbx_group_names[i], name))
			return i;
	return -1;
}

bool sbx_kind_is_pointer(enum arg_kind k)
{
	switch (k) {
	case A_NONE: case A_INT: case A_FD: case A_FD_W: case A_DIRFD: case A_NEWFD:
		return false;
	default:
		return true;
	}
}
