/* divzero: a handler for vector 0 catches #DE, skips the instruction, execution continues. */
#include "../test_util.h"

extern char divzero_insn[];
static volatile int count;
static volatile uint64_t seen_rip;

static void handler(struct dune_tf *tf)
{
	count++;
	seen_rip = tf->rip;
	tf->rip += 3;		/* divq %rcx is 48 f7 f1 */
	tf->rax = 0xd1d;
}

static __attribute__((noinline, noclone)) uint64_t divide_by_zero(void)
{
	uint64_t lo = 1, hi = 0;

	__asm__ volatile(".globl divzero_insn\n"
			 "divzero_insn: divq %2\n"
			 : "+a"(lo), "+d"(hi)
			 : "c"(0ULL)
			 : "cc");
	return lo;
}

int main(void)
{
	uint64_t r;

	test_enter("divzero");
	TEST_ASSERT(dune_register_intr_handler(T_DE, handler) == 0);
	r = divide_by_zero();
	TEST_ASSERT(count == 1);
	TEST_ASSERT(seen_rip == (uint64_t)(uintptr_t)divzero_insn);
	TEST_ASSERT(r == 0xd1d);
	test_pass();
	return 0;
}
