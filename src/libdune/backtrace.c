/*
 * backtrace.c - frame-pointer backtraces for the panic paths (unhandled
 * exceptions, dune_die), safe to run in any Dune-mode context.
 *
 * A panic may come from anywhere, with a corrupt rbp chain or from code built
 * without frame pointers, and a fault in here would hide the first one.  So
 * every word is read only after the live page table (CR3, walked without the
 * page-table lock, which the panicking code may hold) says it is present, and
 * the chain must move up the stack, 8-byte aligned, a bounded number of times.
 * Addresses are printed raw: `addr2line -e <program> <addr>` turns them into
 * lines (libdune is built with -fno-omit-frame-pointer; programs built
 * without frame pointers give short traces).
 */
#include "internal.h"

#define BT_MAX_FRAMES	32
#define BT_MAX_SPAN	(8UL << 20)	/* a frame chain never spans more than a stack */

/* Is the 8-byte word at va mapped (present at every level) in the loaded table? */
static bool word_mapped(uintptr_t va)
{
	ptent_t *table;
	int level;

	if (va & 7 || va >= VA_USER_LIMIT)
		return false;
	table = dune_pa_to_va(read_cr3() & PTE_ADDR);
	for (level = 3; table; level--) {
		ptent_t e = table[(va >> (12 + 9 * level)) & 511];

		if (!(e & PTE_P))
			return false;
		if (level == 0 || (e & PTE_PS))
			return true;
		table = dune_pa_to_va(PTE_ADDR_OF(e));
	}
	return false;
}

void dune_print_backtrace(uint64_t rip, uint64_t rbp)
{
	int n;

	if (cpl() != 0)
		return;		/* the table cannot be read on the host */
	dune_printf(" backtrace (addr2line -e <program> <addr>):\n  #0 %016llx\n", (unsigned long long)rip);
	for (n = 1; n < BT_MAX_FRAMES; n++) {
		uint64_t next, ret;

		if (!word_mapped(rbp) || !word_mapped(rbp + 8))
			break;
		next = ((const uint64_t *)rbp)[0];
		ret = ((const uint64_t *)rbp)[1];
		if (!ret)
			break;
		dune_printf("  #%d %016llx\n", n, (unsigned long long)ret - 1);	/* inside the call */
		if (next <= rbp || next - rbp > BT_MAX_SPAN)
			break;
		rbp = next;
	}
}
