// SPDX-License-Identifier: GPL-2.0
/*
 * stats.c - per-file event counters (DUNE_GET_STATS).
 *
 * Every vCPU carries a struct dune_stats of plain u64 counters that only its
 * own thread writes, from the run loop, so counting is a few adds per round
 * trip and touches no shared cache line.  A read takes the file's lock (the
 * vCPU list cannot change under it, and no vCPU on it can be freed) and sums
 * the file's totals with every live vCPU's counters; a vCPU running on another
 * CPU meanwhile may be seen a few events old, never torn (aligned u64 loads).
 * When a vCPU is taken off the list to be destroyed, its counters are added
 * to the totals under the same lock, so a reader sees them exactly once.
 *
 * INVEPTs are the exception: they flush an EPT, which belongs to a process
 * and is flushed from notifier callbacks on any thread.  They are counted on
 * the EPT (an atomic; INVEPT by IPI costs far more) and reported by each file
 * with a live vCPU on it; when a file's last vCPU on an EPT goes away, the
 * count moves into that file's totals (atomic64_xchg, so never twice).
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/asm/vmx.h>

#include "dune_internal.h"

#define STATS_WORDS (sizeof(struct dune_stats) / sizeof(u64))

static void stats_add(struct dune_stats *to, const struct dune_stats *from)
{
	u64 *t = (u64 *)to;
	const u64 *f = (const u64 *)from;
	size_t i;

	BUILD_BUG_ON(sizeof(struct dune_stats) % sizeof(u64));
	/* from may belong to a vCPU running right now on another CPU. */
	for (i = 0; i < STATS_WORDS; i++)
		t[i] += READ_ONCE(f[i]);
}

/* Account the exit just captured (interrupts off, owning thread). */
void dune_stats_count_exit(struct dune_vcpu *vcpu)
{
	u32 basic = vcpu->exit_reason & 0xffff;

	if (vcpu->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		dune_stat_inc(vcpu, entry_failures);
		return;
	}
	dune_stat_inc(vcpu, exits);
	if (basic < DUNE_STATS_EXIT_REASONS)
		dune_stat_inc(vcpu, exit_reasons[basic]);
	else
		dune_stat_inc(vcpu, exits_other);
}

/* Does any vCPU still on the file use vm?  Caller holds df->lock. */
static bool file_uses_vm(struct dune_file *df, struct dune_vm *vm)
{
	struct dune_vcpu *v;

	list_for_each_entry(v, &df->vcpus, file_link)
		if (v->vm == vm)
			return true;
	return false;
}

/*
 * vcpu was just taken off df->vcpus (df->lock held) and will be destroyed:
 * keep its counts.  Its thread is not running it (exiting, or the caller).
 */
void dune_stats_fold(struct dune_file *df, struct dune_vcpu *vcpu)
{
	lockdep_assert_held(&df->lock);
	stats_add(&df->totals, &vcpu->stats);
	df->totals.vcpus_destroyed++;
	if (!file_uses_vm(df, vcpu->vm))
		df->totals.invepts += atomic64_xchg(&vcpu->vm->invepts, 0);
}

long dune_ioctl_get_stats(struct dune_file *df, struct dune_stats __user *ustats)
{
	struct dune_stats *s;
	struct dune_vcpu *v, *w;
	long r = 0;

	s = kmalloc(sizeof(*s), GFP_KERNEL);	/* 1.2 KiB: too big for the stack */
	if (!s)
		return -ENOMEM;
	mutex_lock(&df->lock);
	*s = df->totals;
	list_for_each_entry(v, &df->vcpus, file_link) {
		bool seen = false;

		stats_add(s, &v->stats);
		/* Each EPT once, however many of the file's vCPUs share it. */
		list_for_each_entry(w, &df->vcpus, file_link) {
			if (w == v)
				break;
			if (w->vm == v->vm) {
				seen = true;
				break;
			}
		}
		if (!seen)
			s->invepts += atomic64_read(&v->vm->invepts);
	}
	mutex_unlock(&df->lock);
	if (copy_to_user(ustats, s, sizeof(*s)))
		r = -EFAULT;
	kfree(s);
	return r;
}
