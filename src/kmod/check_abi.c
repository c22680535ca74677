// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * check_abi.c - host-side check that uapi/dune.h still has the ABI that
 * existing Dune programs hard-code.  Build and run: make check_abi
 */
#include <stddef.h>
#include <stdio.h>
#include "uapi/dune.h"

#define CHECK(cond) _Static_assert(cond, #cond)

CHECK(sizeof(struct dune_config) == 0xb0);
CHECK(offsetof(struct dune_config, ret) == 0x00);
CHECK(offsetof(struct dune_config, rax) == 0x08);
CHECK(offsetof(struct dune_config, rsp) == 0x38);
CHECK(offsetof(struct dune_config, r15) == 0x80);
CHECK(offsetof(struct dune_config, rip) == 0x88);
CHECK(offsetof(struct dune_config, rflags) == 0x90);
CHECK(offsetof(struct dune_config, cr3) == 0x98);
CHECK(offsetof(struct dune_config, status) == 0xa0);
CHECK(offsetof(struct dune_config, vcpu) == 0xa8);
CHECK(sizeof(struct dune_layout) == 24);
CHECK(sizeof(struct dune_trap_regs) == 18 * 8);
CHECK(sizeof(struct dune_trap_config) == 41);
CHECK(DUNE_ENTER == 0x80b0e901);
CHECK(DUNE_GET_SYSCALL == 0xe902);
CHECK(DUNE_GET_LAYOUT == 0x4018e903);
CHECK(DUNE_TRAP_ENABLE == 0x8029e904);
CHECK(DUNE_TRAP_DISABLE == 0xe905);
CHECK(DUNE_QUEUE_INTR == 0x4004e906);
/* dunelab additions (new numbers only) */
CHECK(sizeof(struct dune_stats) == 158 * 8);
CHECK(sizeof(struct dune_stats) % 8 == 0);	/* all __u64: summed as an array */
CHECK(offsetof(struct dune_stats, returns) == 7 * 8);
CHECK(offsetof(struct dune_stats, msr_writes) == 15 * 8);
CHECK(offsetof(struct dune_stats, exit_reasons) == 30 * 8);
CHECK(DUNE_GET_STATS == 0x84f0e907);
CHECK(GPA_STACK_SIZE + GPA_MAP_SIZE == 1ULL << 36);

int main(void)
{
	printf("dune ABI ok: DUNE_ENTER=%#lx sizeof(dune_config)=%#zx\n",
	       (unsigned long)DUNE_ENTER, sizeof(struct dune_config));
	return 0;
}
