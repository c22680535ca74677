/* getpid.h - the two ways a getpid leaves the process: SYSCALL to Linux, VMCALL from Dune ring 0. */
#ifndef TRAP_GETPID_H
#define TRAP_GETPID_H

#include <sys/syscall.h>

static inline __attribute__((always_inline)) long syscall_getpid(void)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"((long)SYS_getpid) : "rcx", "r11", "memory");
	return r;
}

/*
 * Dune's system-call path as the paper measured it: VMCALL with the number
 * in rax.  dune.ko returns DUNE_RET_SYSCALL to libdune's host loop, which
 * runs getpid on the host and resumes the guest with the result in rax
 * (rcx: libdune's TLB-flush flag).
 */
static inline __attribute__((always_inline)) long vmcall_getpid(void)
{
	long r;

	__asm__ volatile("vmcall" : "=a"(r) : "a"((long)SYS_getpid), "c"(0L) : "r11", "memory");
	return r;
}

#endif
