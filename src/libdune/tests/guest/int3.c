/* int3: a handler for vector 3 runs, rip points after int3, the red zone survives. */
#include "../test_util.h"

extern char int3_after[];
static volatile int count;
static volatile uint64_t seen_rip, seen_cs;

static void handler(struct dune_tf *tf)
{
	count++;
	seen_rip = tf->rip;
	seen_cs = tf->cs;
}

int main(void)
{
	uint64_t redzone;
	int i;

	test_enter("int3");
	TEST_ASSERT(dune_register_intr_handler(T_BP, handler) == 0);
	__asm__ volatile(".globl int3_after\nint3\nint3_after:" ::: "memory");
	TEST_ASSERT(count == 1);
	TEST_ASSERT(seen_rip == (uint64_t)(uintptr_t)int3_after);
	TEST_ASSERT(seen_cs == GD_KT);

	/* a value in the red zone (below rsp) must survive the trap */
	__asm__ volatile("movq $0x5eed1234, -8(%%rsp)\n"
			 "movq $0x0badf00d, -120(%%rsp)\n"
			 "int3\n"
			 "movq -8(%%rsp), %0\n"
			 "xorq -120(%%rsp), %0\n"
			 : "=r"(redzone) : : "memory");
	TEST_ASSERT(redzone == (0x5eed1234ULL ^ 0x0badf00dULL));
	TEST_ASSERT(count == 2);

	for (i = 0; i < 1000; i++)
		__asm__ volatile("int3");
	TEST_ASSERT(count == 1002);
	test_pass();
	return 0;
}
