/*
 * fpu_area: dune_tf_fpu() gives a system-call handler and an exception handler the interrupted
 * context's FPU/SSE state (its MXCSR and XMM0 as they were), and what the handler writes there is
 * what the interrupted code finds in its registers when the handler returns.
 */
#include <sys/syscall.h>
#include "../test_util.h"

#define MXCSR_TEST	0x9f80u		/* default 0x1f80 plus flush-to-zero: never libdune's own value */
#define XMM0_OFF	160		/* XMM0 in the legacy region (FXSAVE and XSAVE alike) */
#define XSTATE_BV_OFF	512

static const uint64_t before[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
static const uint64_t written[2] = {0x5a5a5a5a11111111ULL, 0xa5a5a5a522222222ULL};

static int format;
static volatile int calls;
static volatile uint32_t seen_mxcsr;
static volatile uint64_t seen_xmm0[2];
static volatile uintptr_t seen_area;

/* Read what the interrupted code had, then give it `written` in XMM0 on return. */
static void inspect_and_rewrite(struct dune_tf *tf)
{
	uint8_t *area = dune_tf_fpu(tf);
	volatile double scratch = 1.5;
	uint32_t mxcsr;

	calls++;
	seen_area = (uintptr_t)area;
	if (!area)
		return;
	memcpy(&mxcsr, area + 24, 4);
	seen_mxcsr = mxcsr;
	memcpy((void *)seen_xmm0, area + XMM0_OFF, 16);
	/* the handler's own vector registers: not what the interrupted code gets back */
	__asm__ volatile("pxor %%xmm0, %%xmm0" ::: "xmm0");
	scratch *= 3.0;
	(void)scratch;
	memcpy(area + XMM0_OFF, written, 16);
	if (format == DUNE_FPU_XSAVE)
		area[XSTATE_BV_OFF] |= 2;	/* the SSE component is in the area, not in its initial state */
}

static void on_syscall(struct dune_tf *tf)
{
	if (tf->rax == SYS_getppid) {
		inspect_and_rewrite(tf);
		tf->rax = 4242;
		return;
	}
	dune_passthrough_syscall(tf);
}

static void on_int3(struct dune_tf *tf)
{
	inspect_and_rewrite(tf);
}

/* Load XMM0 and MXCSR, run `insn` (a syscall, rax = ret, or int3), report XMM0 and MXCSR after it. */
#define AROUND(insn, ret, out, mxcsr_after)						\
	do {											\
		uint32_t m_in = MXCSR_TEST, m_def = 0x1f80;					\
		__asm__ volatile("movdqu (%[in]), %%xmm0\n"					\
				 "ldmxcsr %[m_in]\n"						\
				 insn "\n"							\
				 "stmxcsr %[m_out]\n"						\
				 "ldmxcsr %[m_def]\n"						\
				 "movdqu %%xmm0, (%[o])\n"					\
				 : "+a"(ret), [m_out] "=m"(mxcsr_after)				\
				 : [in] "r"(before), [o] "r"(out), [m_in] "m"(m_in),		\
				   [m_def] "m"(m_def)						\
				 : "rcx", "r11", "xmm0", "memory");				\
	} while (0)

/* The handler ran (call number n), saw what the interrupted code had, and its write came back. */
static void check_round_trip(int n, const uint64_t out[2], uint32_t mxcsr_after)
{
	TEST_ASSERT(calls == n);
	TEST_ASSERT(seen_area && !(seen_area & 63));
	TEST_ASSERT(seen_mxcsr == MXCSR_TEST);
	TEST_ASSERT(seen_xmm0[0] == before[0] && seen_xmm0[1] == before[1]);
	TEST_ASSERT(out[0] == written[0] && out[1] == written[1]);
	TEST_ASSERT(mxcsr_after == MXCSR_TEST);
}

int main(void)
{
	uint64_t out[2];
	uint32_t mxcsr_after;
	long ret;
	size_t size;

	test_enter("fpu_area");
	size = dune_fpu_state_size(&format);
	TEST_ASSERT(format == DUNE_FPU_XSAVE || format == DUNE_FPU_FXSAVE);
	TEST_ASSERT(size >= (format == DUNE_FPU_XSAVE ? 576u : 512u));

	/* a system call taken by a registered handler */
	dune_register_syscall_handler(on_syscall);
	ret = SYS_getppid;
	AROUND("syscall", ret, out, mxcsr_after);
	dune_register_syscall_handler(NULL);
	TEST_ASSERT(ret == 4242);
	check_round_trip(1, out, mxcsr_after);

	/* an exception */
	TEST_ASSERT(dune_register_intr_handler(T_BP, on_int3) == 0);
	ret = 0;
	AROUND("int3", ret, out, mxcsr_after);
	check_round_trip(2, out, mxcsr_after);

	/* outside a handler a system call has no saved area */
	{
		struct dune_tf tf = {.trapno = DUNE_TRAPNO_SYSCALL};

		TEST_ASSERT(dune_tf_fpu(&tf) == NULL);
	}
	test_pass();
	return 0;
}
