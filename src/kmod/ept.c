// SPDX-License-Identifier: GPL-2.0
/*
 * ept.c - per-process EPT, filled lazily and kept coherent with the host mm.
 *
 * Every process (mm) that has Dune vCPUs owns one EPT, shared by its threads.
 * Guest-physical addresses map to host-virtual ones through struct
 * dune_layout (see uapi/dune.h).  On an EPT violation the page is faulted in
 * on the host with get_user_pages (which breaks COW for writes), its frame is
 * installed in the EPT and the page reference is dropped again: nothing is
 * pinned.  Coherence comes from an mmu_notifier: every host PTE change
 * (munmap, mprotect, COW after fork, reclaim, migration, THP split, KSM) zaps
 * the affected EPT entries and INVEPTs on all CPUs that ran this EPT before
 * the host frees or reuses the page.  A sequence counter (mmu_seq) plus an
 * "invalidation in progress" count stop a fault that raced with an
 * invalidation from installing a stale frame (same idea as KVM's
 * mmu_invalidate_seq).
 *
 * Host memory is RAM only: leaves are write-back with "ignore guest PAT", so
 * the guest's PAT/PCD/PWT cannot give host RAM another memory type, and PFN
 * mappings that are not RAM (device MMIO, the BIOS area) are not mapped at
 * all.  Where the host maps a 2 MiB page (THP), so does the EPT.  Table pages
 * that an invalidation leaves empty are freed after the INVEPT, so the EPT
 * never holds more than the process maps; ept_max_tables caps it anyway.
 * A writable leaf that goes away marks its page dirty (the CPU never sets the
 * host PTE's dirty bit for guest writes).
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/ioport.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sched/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/smp.h>
#include <asm/vmx.h>

#include "dune_internal.h"
#include "vmx_ops.h"

#define EPT_LEVELS	4
#define EPT_MT_WB	6ULL	/* memory type 6 = write-back, in leaf bits 5:3 */
#define EPT_ENTRIES	512
#define EPT_PRESENT	VMX_EPT_RWX_MASK
#define EPT_ADDR_MASK	0x000ffffffffff000ULL
#define EPT_NONLEAF	(VMX_EPT_READABLE_MASK | VMX_EPT_WRITABLE_MASK | \
			 VMX_EPT_EXECUTABLE_MASK)
#define EPT_LARGE	(1ULL << 7)	/* 2 MiB leaf in a level-1 entry */
/* Leaf memory type: write-back, guest PAT ignored (host RAM only). */
#define EPT_LEAF_MT	((EPT_MT_WB << VMX_EPT_MT_EPTE_SHIFT) | VMX_EPT_IPAT_BIT)

/* EPT table pages per process before the whole EPT is dropped and refilled. */
static unsigned long ept_max_tables = 65536;	/* 256 MiB of tables */
module_param(ept_max_tables, ulong, 0644);
MODULE_PARM_DESC(ept_max_tables, "EPT table pages per process before the EPT is zapped and refilled");

static const struct mmu_notifier_ops dune_mn_ops;

/* ---------------------------------------------------------------- layout */

void dune_fill_layout(struct mm_struct *mm, struct dune_layout *l)
{
	/*
	 * mmap grows down from mmap_base: its window ends at mmap_base rounded
	 * up to 1 GiB.  The stack grows down from start_stack, and the kernel
	 * puts [vvar]/[vdso] a few MiB above it: that window ends 64 MiB
	 * above start_stack (2 MiB aligned, for big pages), so neither a deep
	 * stack nor the vDSO can fall off a 1 GiB boundary that happens to be
	 * close to start_stack.  Where windows overlap, the stack one wins
	 * (dune_hva_to_gpa(), libdune's layout.h).
	 */
	l->phys_limit = dune_caps.phys_limit;
	l->base_map = ALIGN(mm->mmap_base, 1ULL << 30) - GPA_MAP_SIZE;
	l->base_stack = ALIGN(mm->start_stack + SZ_64M, SZ_2M) - GPA_STACK_SIZE;
}

static u64 gpa_map_start(const struct dune_layout *l)
{
	return l->phys_limit - GPA_STACK_SIZE - GPA_MAP_SIZE;
}

static u64 gpa_stack_start(const struct dune_layout *l)
{
	return l->phys_limit - GPA_STACK_SIZE;
}

bool dune_gpa_to_hva(const struct dune_layout *l, u64 gpa, unsigned long *hva)
{
	if (gpa < gpa_map_start(l))
		*hva = gpa;
	else if (gpa < gpa_stack_start(l))
		*hva = gpa - gpa_map_start(l) + l->base_map;
	else if (gpa < l->phys_limit)
		*hva = gpa - gpa_stack_start(l) + l->base_stack;
	else
		return false;
	return *hva < TASK_SIZE_MAX;
}

/* The GPA libdune will use for hva (identity window first, as in dune.h). */
bool dune_hva_to_gpa(const struct dune_layout *l, unsigned long hva, u64 *gpa)
{
	if (hva < gpa_map_start(l))
		*gpa = hva;
	else if (hva >= l->base_stack && hva - l->base_stack < GPA_STACK_SIZE)
		*gpa = hva - l->base_stack + gpa_stack_start(l);
	else if (hva >= l->base_map && hva - l->base_map < GPA_MAP_SIZE)
		*gpa = hva - l->base_map + gpa_map_start(l);
	else
		return false;
	return true;
}

/* ------------------------------------------------------------- EPT tables */

static u64 *ept_table(u64 entry)
{
	return __va(entry & EPT_ADDR_MASK);
}

static int ept_index(u64 gpa, int level)	/* level 3 = PML4 ... 0 = PT */
{
	return (gpa >> (12 + 9 * level)) & (EPT_ENTRIES - 1);
}

static bool ept_is_leaf(u64 entry, int level)
{
	return level == 0 || (entry & EPT_LARGE);
}

/* Table pages taken off the EPT, freed once no CPU can cache them. */
struct ept_zap {
	struct list_head freed;
	bool found;		/* something was cleared: INVEPT needed */
};

static void ept_zap_init(struct ept_zap *z)
{
	INIT_LIST_HEAD(&z->freed);
	z->found = false;
}

/* A leaf goes away: guest writes through it made its page dirty. */
static void ept_leaf_gone(u64 entry)
{
	unsigned long pfn = (entry & EPT_ADDR_MASK) >> PAGE_SHIFT;

	if ((entry & VMX_EPT_WRITABLE_MASK) && pfn_valid(pfn)) {
		struct page *page = pfn_to_page(pfn);

		if (!PageReserved(page))
			SetPageDirty(page);
	}
}

/*
 * Clear the leaves mapping [start, end) in the table at `level` (covering
 * `base` onwards), and free (into z->freed) every table below it that ends
 * up empty.  Returns true if this table is empty afterwards.  ept_lock held.
 */
static bool ept_zap_level(struct dune_vm *vm, u64 *table, int level, u64 base,
			  u64 start, u64 end, struct ept_zap *z)
{
	u64 span = 1ULL << (12 + 9 * level);
	bool empty = true;
	int i;

	for (i = 0; i < EPT_ENTRIES; i++) {
		u64 e = table[i], lo = base + i * span, hi = lo + span;

		if (!(e & EPT_PRESENT))
			continue;
		if (hi <= start || lo >= end) {
			empty = false;
			continue;
		}
		if (ept_is_leaf(e, level)) {
			ept_leaf_gone(e);
		} else if (ept_zap_level(vm, ept_table(e), level - 1, lo, start, end, z)) {
			list_add(&virt_to_page(ept_table(e))->lru, &z->freed);
			vm->nr_tables--;
		} else {
			empty = false;
			continue;
		}
		WRITE_ONCE(table[i], 0);
		z->found = true;
	}
	return empty;
}

static bool ept_test_level(u64 *table, int level, u64 base, u64 start, u64 end)
{
	u64 span = 1ULL << (12 + 9 * level);
	int i;

	for (i = 0; i < EPT_ENTRIES; i++) {
		u64 lo = base + i * span, hi = lo + span;

		if (hi <= start || lo >= end || !(table[i] & EPT_PRESENT))
			continue;
		if (ept_is_leaf(table[i], level) ||
		    ept_test_level(ept_table(table[i]), level - 1, lo, start, end))
			return true;
	}
	return false;
}

static void ept_free_level(u64 *table, int level)
{
	int i;

	if (level > 0) {
		for (i = 0; i < EPT_ENTRIES; i++)
			if ((table[i] & EPT_PRESENT) && !ept_is_leaf(table[i], level))
				ept_free_level(ept_table(table[i]), level - 1);
	}
	free_page((unsigned long)table);
}

/* Runs on each CPU in cpus_used with interrupts off. */
void dune_ept_flush_local(void *arg)
{
	struct dune_vm *vm = arg;

	if (!this_cpu_ptr(&dune_cpu)->vmx_on)
		return;		/* VMXON flushes everything anyway */
	atomic64_inc(&vm->invepts);
	if (dune_caps.invept_single)
		dune_invept(VMX_EPT_EXTENT_CONTEXT, vm->eptp);
	else
		dune_invept(VMX_EPT_EXTENT_GLOBAL, 0);
}

static void ept_flush(struct dune_vm *vm)
{
	/* Only meaningful while vCPUs exist; they hold VMX on. */
	smp_mb();
	if (atomic_read(&vm->nr_vcpus) > 0)
		on_each_cpu_mask(vm->cpus_used, dune_ept_flush_local, vm, 1);
}

/* After ept_lock is dropped: INVEPT if anything went, then free the tables. */
static void ept_zap_finish(struct dune_vm *vm, struct ept_zap *z)
{
	struct page *pg, *tmp;

	if (z->found)
		ept_flush(vm);
	list_for_each_entry_safe(pg, tmp, &z->freed, lru) {
		list_del(&pg->lru);
		__free_page(pg);
	}
}

/* The three windows of the layout, as host-virtual -> guest-physical. */
struct ept_window {
	u64 hva, size, gpa;
};

static void ept_windows(const struct dune_layout *l, struct ept_window w[3])
{
	w[0] = (struct ept_window){ 0, gpa_map_start(l), 0 };
	w[1] = (struct ept_window){ l->base_map, GPA_MAP_SIZE, gpa_map_start(l) };
	w[2] = (struct ept_window){ l->base_stack, GPA_STACK_SIZE, gpa_stack_start(l) };
}

/*
 * Zap every GPA that aliases host range [start, end).  The identity, map and
 * stack windows can overlap in HVA space, so all three are checked.
 * Caller holds ept_lock.
 */
static void ept_zap_hva(struct dune_vm *vm, unsigned long start, unsigned long end,
			struct ept_zap *z)
{
	struct ept_window win[3];
	int i;

	ept_windows(&vm->layout, win);
	for (i = 0; i < 3; i++) {
		u64 s = max_t(u64, start, win[i].hva);
		u64 e = min_t(u64, end, win[i].hva + win[i].size);

		if (s >= e)
			continue;
		ept_zap_level(vm, vm->ept_root, EPT_LEVELS - 1, 0,
			      s - win[i].hva + win[i].gpa, e - win[i].hva + win[i].gpa, z);
	}
}

static bool ept_test_hva(struct dune_vm *vm, unsigned long start, unsigned long end)
{
	struct ept_window win[3];
	int i;

	ept_windows(&vm->layout, win);
	for (i = 0; i < 3; i++) {
		u64 s = max_t(u64, start, win[i].hva);
		u64 e = min_t(u64, end, win[i].hva + win[i].size);

		if (s < e && ept_test_level(vm->ept_root, EPT_LEVELS - 1, 0,
					    s - win[i].hva + win[i].gpa,
					    e - win[i].hva + win[i].gpa))
			return true;
	}
	return false;
}

/* ----------------------------------------------------------- mmu notifier */

static struct dune_vm *mn_to_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct dune_vm, mn);
}

static int dune_mn_invalidate_range_start(struct mmu_notifier *mn,
					  const struct mmu_notifier_range *range)
{
	struct dune_vm *vm = mn_to_vm(mn);
	struct ept_zap z;

	ept_zap_init(&z);
	spin_lock(&vm->ept_lock);
	vm->mmu_invalidating++;
	ept_zap_hva(vm, range->start, range->end, &z);
	spin_unlock(&vm->ept_lock);
	/* The host may free the pages once we return: flush first. */
	ept_zap_finish(vm, &z);
	return 0;
}

static void dune_mn_invalidate_range_end(struct mmu_notifier *mn,
					 const struct mmu_notifier_range *range)
{
	struct dune_vm *vm = mn_to_vm(mn);

	spin_lock(&vm->ept_lock);
	vm->mmu_seq++;
	vm->mmu_invalidating--;
	WARN_ON_ONCE(vm->mmu_invalidating < 0);
	spin_unlock(&vm->ept_lock);
}

/*
 * No EPT accessed bits are used: aging zaps the mapping instead, so the next
 * guest access refaults through get_user_pages, which marks the host PTE
 * young again.  Correct, if a bit slower under memory pressure.
 */
static int dune_mn_clear_young_common(struct mmu_notifier *mn,
				      unsigned long start, unsigned long end)
{
	struct dune_vm *vm = mn_to_vm(mn);
	struct ept_zap z;

	ept_zap_init(&z);
	spin_lock(&vm->ept_lock);
	ept_zap_hva(vm, start, end, &z);
	spin_unlock(&vm->ept_lock);
	ept_zap_finish(vm, &z);
	return z.found;
}

static int dune_mn_clear_flush_young(struct mmu_notifier *mn,
				     struct mm_struct *mm,
				     unsigned long start, unsigned long end)
{
	return dune_mn_clear_young_common(mn, start, end);
}

static int dune_mn_clear_young(struct mmu_notifier *mn, struct mm_struct *mm,
			       unsigned long start, unsigned long end)
{
	return dune_mn_clear_young_common(mn, start, end);
}

static int dune_mn_test_young(struct mmu_notifier *mn, struct mm_struct *mm,
			      unsigned long address)
{
	struct dune_vm *vm = mn_to_vm(mn);
	bool found;

	spin_lock(&vm->ept_lock);
	found = ept_test_hva(vm, address, address + PAGE_SIZE);
	spin_unlock(&vm->ept_lock);
	return found;
}

/* Everything below the root goes; ept_lock held. */
static void ept_zap_all(struct dune_vm *vm, struct ept_zap *z)
{
	ept_zap_level(vm, vm->ept_root, EPT_LEVELS - 1, 0, 0, ~0ULL, z);
}

static void dune_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct dune_vm *vm = mn_to_vm(mn);
	struct ept_zap z;

	ept_zap_init(&z);
	spin_lock(&vm->ept_lock);
	vm->dead = true;
	vm->mmu_seq++;
	ept_zap_all(vm, &z);
	spin_unlock(&vm->ept_lock);
	ept_zap_finish(vm, &z);
}

static struct mmu_notifier *dune_mn_alloc(struct mm_struct *mm)
{
	struct dune_vm *vm;
	struct page *root;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	if (!zalloc_cpumask_var(&vm->cpus_used, GFP_KERNEL_ACCOUNT))
		goto free_vm;
	root = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!root)
		goto free_mask;
	vm->ept_root = page_address(root);
	vm->eptp = __pa(vm->ept_root) | VMX_EPTP_MT_WB | VMX_EPTP_PWL_4;
	spin_lock_init(&vm->ept_lock);
	dune_fill_layout(mm, &vm->layout);
	return &vm->mn;

free_mask:
	free_cpumask_var(vm->cpus_used);
free_vm:
	kfree(vm);
	return ERR_PTR(-ENOMEM);
}

/* Called after an SRCU grace period once the last reference is gone. */
static void dune_mn_free(struct mmu_notifier *mn)
{
	struct dune_vm *vm = mn_to_vm(mn);

	/* The last vCPU already INVEPTed (dune_vm_put), so no TLB holds it. */
	ept_free_level(vm->ept_root, EPT_LEVELS - 1);
	free_cpumask_var(vm->cpus_used);
	kfree(vm);
}

static const struct mmu_notifier_ops dune_mn_ops = {
	.release		= dune_mn_release,
	.clear_flush_young	= dune_mn_clear_flush_young,
	.clear_young		= dune_mn_clear_young,
	.test_young		= dune_mn_test_young,
	.invalidate_range_start	= dune_mn_invalidate_range_start,
	.invalidate_range_end	= dune_mn_invalidate_range_end,
	.alloc_notifier		= dune_mn_alloc,
	.free_notifier		= dune_mn_free,
};

/* The EPT of current->mm, created on first use.  Counts one vCPU. */
struct dune_vm *dune_vm_get_current(void)
{
	struct mmu_notifier *mn;
	struct dune_vm *vm;

	mn = mmu_notifier_get(&dune_mn_ops, current->mm);
	if (IS_ERR(mn))
		return ERR_CAST(mn);
	vm = mn_to_vm(mn);
	atomic_inc(&vm->nr_vcpus);
	return vm;
}

void dune_vm_put(struct dune_vm *vm)
{
	/*
	 * Last vCPU gone: flush this EPTP everywhere while VMX is still on, so
	 * that a future EPT reusing the same root page cannot hit stale
	 * translations.
	 */
	if (atomic_dec_and_test(&vm->nr_vcpus))
		on_each_cpu_mask(vm->cpus_used, dune_ept_flush_local, vm, 1);
	mmu_notifier_put(&vm->mn);
}

/* ------------------------------------------------------------ EPT faults */

/* Zeroed table pages taken before ept_lock, in the order they are used. */
struct ept_prealloc {
	void *pages[EPT_LEVELS - 1];
	int n;
};

static void prealloc_fill(struct ept_prealloc *p, int want)
{
	p->n = 0;
	while (p->n < want) {
		struct page *pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

		if (!pg)
			break;
		p->pages[p->n++] = page_address(pg);
	}
}

static void prealloc_free(struct ept_prealloc *p)
{
	while (p->n > 0)
		free_page((unsigned long)p->pages[--p->n]);
}

/*
 * The entry for gpa at `level` (0: 4 KiB leaf, 1: 2 MiB leaf), creating the
 * tables above it.  NULL: out of preallocated pages.  ERR_PTR(-EEXIST): a
 * 2 MiB leaf is in the way of a 4 KiB one (returned in *large), or a table
 * is in the way of a 2 MiB leaf.  ept_lock held.
 */
static u64 *ept_entry(struct dune_vm *vm, u64 gpa, int level, struct ept_prealloc *p,
		      u64 **large)
{
	u64 *table = vm->ept_root;
	int l;

	for (l = EPT_LEVELS - 1; l > level; l--) {
		u64 *e = &table[ept_index(gpa, l)];

		if (!(*e & EPT_PRESENT)) {
			void *pg;

			if (p->n == 0)
				return NULL;
			pg = p->pages[--p->n];
			*e = __pa(pg) | EPT_NONLEAF;
			vm->nr_tables++;
		} else if (ept_is_leaf(*e, l)) {
			*large = e;
			return ERR_PTR(-EEXIST);
		}
		table = ept_table(*e);
	}
	table = &table[ept_index(gpa, level)];
	if (level > 0 && (*table & EPT_PRESENT) && !ept_is_leaf(*table, level))
		return ERR_PTR(-EEXIST);
	return table;
}

/*
 * Does the host map hva with a PMD (2 MiB) page whose frames start at
 * `head_pfn`?  A lockless walk like GUP-fast: interrupts off keep the page
 * tables from being freed under us; a THP split racing with us is caught by
 * the mmu_seq check before anything is installed.
 */
static bool host_maps_2m(struct mm_struct *mm, unsigned long hva, unsigned long head_pfn,
			 bool *writable)
{
	unsigned long flags;
	bool huge = false;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud, pudv;
	pmd_t pmd;

	local_irq_save(flags);
	pgd = pgd_offset(mm, hva);
	if (pgd_none(READ_ONCE(*pgd)))
		goto out;
	p4d = p4d_offset(pgd, hva);
	if (p4d_none(READ_ONCE(*p4d)))
		goto out;
	pud = pud_offset(p4d, hva);
	pudv = READ_ONCE(*pud);
	if (pud_none(pudv) || !pud_present(pudv) || pud_large(pudv))
		goto out;
	pmd = READ_ONCE(*pmd_offset(pud, hva));
	if (pmd_present(pmd) && pmd_large(pmd) && pmd_pfn(pmd) == head_pfn) {
		huge = true;
		*writable = pmd_write(pmd);
	}
out:
	local_irq_restore(flags);
	return huge;
}

/*
 * Map a 2 MiB EPT leaf for the fault at gpa if the host maps the 2 MiB
 * around hva with one huge page and the guest-physical 2 MiB around gpa
 * lies in one window, at the same offset.
 */
static bool can_map_2m(struct dune_vm *vm, u64 gpa, unsigned long hva,
		       struct page *page, bool *writable)
{
	unsigned long hva2m = hva & ~(SZ_2M - 1), lo, hi;
	u64 gpa2m = gpa & ~((u64)SZ_2M - 1);
	bool w;

	if (!dune_caps.ept_2m || (gpa & (SZ_2M - 1)) != (hva & (SZ_2M - 1)))
		return false;
	if (!dune_gpa_to_hva(&vm->layout, gpa2m, &lo) || lo != hva2m ||
	    !dune_gpa_to_hva(&vm->layout, gpa2m + SZ_2M - 1, &hi) ||
	    hi != hva2m + SZ_2M - 1)
		return false;
	if (!host_maps_2m(current->mm, hva, page_to_pfn(page) - ((hva >> PAGE_SHIFT) & 511), &w))
		return false;
	*writable = *writable && w;
	return true;
}

/*
 * Install `entry` (4 KiB, or 2 MiB with level 1) for gpa if no invalidation
 * ran since `seq`.  Returns 0 if installed or already there, -EAGAIN if it
 * raced with an invalidation, -ENOMEM.
 */
static int ept_install(struct dune_vm *vm, u64 gpa, int level, u64 entry,
		       unsigned long seq, bool *mapped)
{
	struct ept_prealloc p;
	struct ept_zap z;
	u64 *e, *large = NULL;
	int r = 0;

	ept_zap_init(&z);
	/* Bounded: past the cap, drop the whole EPT (it refills on demand). */
	if (READ_ONCE(vm->nr_tables) + EPT_LEVELS > READ_ONCE(ept_max_tables)) {
		spin_lock(&vm->ept_lock);
		ept_zap_all(vm, &z);
		spin_unlock(&vm->ept_lock);
		ept_zap_finish(vm, &z);
		pr_info_ratelimited("EPT of pid %d reached %lu tables: dropped, refilling\n",
				    current->tgid, ept_max_tables);
		return -EAGAIN;
	}
	prealloc_fill(&p, EPT_LEVELS - 1 - level);

	spin_lock(&vm->ept_lock);
	if (vm->dead || vm->mmu_invalidating || vm->mmu_seq != seq) {
		r = -EAGAIN;
		goto unlock;
	}
	e = ept_entry(vm, gpa, level, &p, &large);
	if (e == ERR_PTR(-EEXIST) && large) {
		/* A 2 MiB leaf where a 4 KiB one goes: drop it, refault. */
		ept_leaf_gone(*large);
		WRITE_ONCE(*large, 0);
		z.found = true;
		r = -EAGAIN;
	} else if (IS_ERR(e)) {
		r = PTR_ERR(e);
	} else if (!e) {
		r = -ENOMEM;
	} else if (*e == entry) {
		/* Already there: the fault came from a stale TLB entry. */
		z.found = true;
	} else {
		/* A present entry is only upgraded (R -> RW, same frame) here. */
		WRITE_ONCE(*e, entry);
		*mapped = true;
	}
unlock:
	spin_unlock(&vm->ept_lock);
	if (z.found)
		on_each_cpu_mask(vm->cpus_used, dune_ept_flush_local, vm, 1);
	z.found = false;
	ept_zap_finish(vm, &z);
	prealloc_free(&p);
	return r;
}

/*
 * get_user_pages() refuses VM_IO/VM_PFNMAP areas such as the vDSO's vvar
 * page, which guest code reads on every clock_gettime().  Map such frames
 * read-only, and only if they are RAM (page_is_ram(), the e820/iomem view):
 * device MMIO, ROMs and firmware areas - which have a struct page, so
 * pfn_valid() would accept them - are never mapped into a guest, whatever
 * memory type it would ask for.  Coherence still comes from the notifier
 * (zapping a PFN mapping invalidates it like any other PTE).
 */
static int ept_map_pfnmap(struct dune_vm *vm, u64 gpa, unsigned long hva,
			  bool write, unsigned long seq, bool *mapped)
{
	struct vm_area_struct *vma;
	unsigned long pfn;
	int r;

	if (write)
		return 1;
	mmap_read_lock(current->mm);
	vma = find_vma(current->mm, hva);
	if (!vma || vma->vm_start > hva || !(vma->vm_flags & VM_READ) ||
	    !(vma->vm_flags & (VM_IO | VM_PFNMAP))) {
		mmap_read_unlock(current->mm);
		return 1;
	}
	if (follow_pfn(vma, hva, &pfn)) {
		/*
		 * Special mappings such as [vvar] get their host PTE from their
		 * ->fault handler on the first host access.  Fault it in as a
		 * host read would (unlocked == NULL: the mmap lock stays held,
		 * so vma stays valid), then look again.
		 */
		if (fixup_user_fault(current->mm, hva, 0, NULL) ||
		    follow_pfn(vma, hva, &pfn)) {
			mmap_read_unlock(current->mm);
			return 1;
		}
	}
	mmap_read_unlock(current->mm);
	if (!page_is_ram(pfn))
		return 1;

	r = ept_install(vm, gpa, 0, ((u64)pfn << PAGE_SHIFT) | VMX_EPT_READABLE_MASK |
			VMX_EPT_EXECUTABLE_MASK | EPT_LEAF_MT, seq, mapped);
	return r == -EAGAIN ? 0 : r;
}

/*
 * One attempt: fault the page in on the host, install it.  -EAGAIN if an
 * invalidation ran meanwhile (typically the one our own get_user_pages
 * caused, breaking COW of the zero page), 1 for "not the process's memory".
 */
static int ept_fault_once(struct dune_vm *vm, u64 gpa, unsigned long hva, bool write,
			  bool *mapped)
{
	unsigned long seq;
	struct page *page;
	bool writable;
	u64 entry;
	long n;
	int level = 0, r;

	seq = READ_ONCE(vm->mmu_seq);
	smp_rmb();	/* read seq before looking at the host page tables */

	writable = write;
	if (write) {
		n = get_user_pages_unlocked(hva, 1, &page, FOLL_WRITE);
	} else {
		/* Map writable right away if the host PTE already is (no COW). */
		n = get_user_pages_fast_only(hva, 1, FOLL_WRITE, &page);
		if (n == 1)
			writable = true;
		else
			n = get_user_pages_unlocked(hva, 1, &page, 0);
	}
	if (n == -EINTR || n == -ERESTARTSYS)
		return 0;	/* fatal signal: the run loop will notice */
	if (n != 1)
		return ept_map_pfnmap(vm, gpa, hva, write, seq, mapped);

	if (can_map_2m(vm, gpa, hva, page, &writable)) {
		level = 1;
		entry = ((page_to_pfn(page) - ((hva >> PAGE_SHIFT) & 511)) << PAGE_SHIFT) |
			EPT_LARGE;
	} else {
		entry = page_to_pfn(page) << PAGE_SHIFT;
	}
	entry |= VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK | EPT_LEAF_MT;
	if (writable)
		entry |= VMX_EPT_WRITABLE_MASK;

	r = ept_install(vm, gpa & ~((1ULL << (12 + 9 * level)) - 1), level, entry, seq, mapped);
	if (r == -EEXIST && level == 1) {
		/* 4 KiB tables already there: map this page alone. */
		entry = (page_to_pfn(page) << PAGE_SHIFT) | VMX_EPT_READABLE_MASK |
			VMX_EPT_EXECUTABLE_MASK | EPT_LEAF_MT |
			(writable ? VMX_EPT_WRITABLE_MASK : 0);
		r = ept_install(vm, gpa & PAGE_MASK, 0, entry, seq, mapped);
	}
	put_page(page);
	return r;
}

/*
 * Handle an EPT violation at gpa.  Returns 0 to retry the guest, 1 if the
 * access is outside the process's memory (-> DUNE_RET_EPT_VIOLATION), or a
 * negative errno.  *mapped: a leaf was installed or upgraded (for the stats).
 * Runs preemptible, interrupts on, as current.
 *
 * A fault whose own host fault-in invalidated the range (a write to a
 * zero-page or COW mapping) is retried here rather than by re-entering the
 * guest: a first write to a fresh anonymous page costs one VM exit.
 */
int dune_ept_handle_violation(struct dune_vm *vm, u64 gpa, u64 qual, bool *mapped)
{
	bool write = qual & EPT_VIOLATION_ACC_WRITE;
	unsigned long hva;
	int tries, r = 0;

	if (!dune_gpa_to_hva(&vm->layout, gpa, &hva))
		return 1;
	hva &= PAGE_MASK;

	for (tries = 0; tries < 3; tries++) {
		r = ept_fault_once(vm, gpa, hva, write, mapped);
		if (r != -EAGAIN)
			break;
		if (fatal_signal_pending(current))
			return 0;
		cond_resched();
	}
	return r == -EAGAIN ? 0 : r;
}
