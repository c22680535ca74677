/* xsaves: XSAVES/XRSTORS would act on the host's IA32_XSS (supervisor state such
 * as Intel PT trace addresses or CET shadow stacks).  In Dune mode CPUID does not
 * offer them (leaf 0xd, sub-leaf 1, EAX bit 3) and executing XSAVES raises #UD. */
#include <cpuid.h>
#include "../test_util.h"

static volatile int ud;
static uint8_t area[4096] __attribute__((aligned(64)));

static void on_ud(struct dune_tf *tf)
{
	ud++;
	tf->rip += 4;			/* 48 0f c7 2f: xsaves64 (%rdi) */
}

int main(void)
{
	unsigned int a, b, c, d;

	test_enter("xsaves");
	__cpuid_count(0xd, 1, a, b, c, d);
	printf("xsaves: CPUID.(0xd,1).EAX = %#x\n", a);
	TEST_ASSERT(!(a & (1u << 3)));
	TEST_ASSERT(dune_register_intr_handler(T_UD, on_ud) == 0);
	__asm__ volatile(".byte 0x48, 0x0f, 0xc7, 0x2f" : : "D"(area), "a"(-1), "d"(-1) : "memory");
	TEST_ASSERT(ud == 1);
	test_pass();
	return 0;
}
