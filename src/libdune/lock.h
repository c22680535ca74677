/*
 * lock.h - spinlock usable both on the host and in Dune mode.  In Dune mode
 * interrupts are disabled while it is held, so a trap handler (e.g. the
 * page-fault handler) can never spin on a lock its own thread holds.
 */
#ifndef LIBDUNE_LOCK_H
#define LIBDUNE_LOCK_H

#include <stdint.h>
#include "cpu-x86.h"

static inline uint64_t dune_spin_lock_irqsave(volatile int *word)
{
	uint64_t flags = 0;

	if (cpl() == 0) {
		flags = read_rflags();
		cli();
	}
	while (__atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE))
		while (*word)
			__builtin_ia32_pause();
	return flags;
}

static inline void dune_spin_unlock_irqrestore(volatile int *word, uint64_t flags)
{
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
	if (flags & X86_EFLAGS_IF)
		sti();
}

#endif /* LIBDUNE_LOCK_H */
