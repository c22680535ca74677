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
 */
#define pr_fmt(fmt) "dune: " fmt

#include <linux/mm.h>
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

/*
 * Find (and, with prealloc, create) the leaf entry for gpa.
 * Called with ept_lock held; prealloc holds zeroed pages taken in order.
 */
static u64 *ept_leaf(struct dune_vm *vm, u64 gpa, void **prealloc, int *nprealloc)
{
	u64 *table = vm->ept_root;
	int level;

	for (level = EPT_LEVELS - 1; level > 0; level--) {
		u64 *e = &table[ept_index(gpa, level)];

		if (!(*e & EPT_PRESENT)) {
			void *pg;

			if (!prealloc || *nprealloc == 0)
				return NULL;
			pg = prealloc[--(*nprealloc)];
			prealloc[*nprealloc] = NULL;
			*e = __pa(pg) | EPT_NONLEAF;
		}
		table = ept_table(*e);
	}
	return &table[ept_index(gpa, 0)];
}

/* Clear leaves in [start, end); returns true if any was present. */
static bool ept_zap_level(u64 *table, int level, u64 base, u64 start, u64 end)
{
	u64 span = 1ULL << (12 + 9 * level);
	bool found = false;
	int i;

	for (i = 0; i < EPT_ENTRIES; i++) {
		u64 lo = base + i * span, hi = lo + span;

		if (hi <= start || lo >= end)
			continue;
		if (!(table[i] & EPT_PRESENT))
			continue;
		if (level == 0) {
			WRITE_ONCE(table[i], 0);
			found = true;
		} else {
			found |= ept_zap_level(ept_table(table[i]), level - 1,
					       lo, start, end);
		}
	}
	return found;
}

static bool ept_test_level(u64 *table, int level, u64 base, u64 start, u64 end)
{
	u64 span = 1ULL << (12 + 9 * level);
	int i;

	for (i = 0; i < EPT_ENTRIES; i++) {
		u64 lo = base + i * span, hi = lo + span;

		if (hi <= start || lo >= end || !(table[i] & EPT_PRESENT))
			continue;
		if (level == 0 ||
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
			if (table[i] & EPT_PRESENT)
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

/*
 * Zap every GPA that aliases host range [start, end).  The identity, map and
 * stack windows can overlap in HVA space, so all three are checked.
 * Caller holds ept_lock.
 */
static bool ept_zap_hva(struct dune_vm *vm, unsigned long start, unsigned long end)
{
	const struct dune_layout *l = &vm->layout;
	struct { u64 hva, size, gpa; } win[3] = {
		{ 0, gpa_map_start(l), 0 },
		{ l->base_map, GPA_MAP_SIZE, gpa_map_start(l) },
		{ l->base_stack, GPA_STACK_SIZE, gpa_stack_start(l) },
	};
	bool found = false;
	int i;

	for (i = 0; i < 3; i++) {
		u64 s = max_t(u64, start, win[i].hva);
		u64 e = min_t(u64, end, win[i].hva + win[i].size);

		if (s >= e)
			continue;
		found |= ept_zap_level(vm->ept_root, EPT_LEVELS - 1, 0,
				       s - win[i].hva + win[i].gpa,
				       e - win[i].hva + win[i].gpa);
	}
	return found;
}

static bool ept_test_hva(struct dune_vm *vm, unsigned long start, unsigned long end)
{
	const struct dune_layout *l = &vm->layout;
	struct { u64 hva, size, gpa; } win[3] = {
		{ 0, gpa_map_start(l), 0 },
		{ l->base_map, GPA_MAP_SIZE, gpa_map_start(l) },
		{ l->base_stack, GPA_STACK_SIZE, gpa_stack_start(l) },
	};
	int i;

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
	bool found;

	spin_lock(&vm->ept_lock);
	vm->mmu_invalidating++;
	found = ept_zap_hva(vm, range->start, range->end);
	spin_unlock(&vm->ept_lock);
	/* The host may free the pages once we return: flush first. */
	if (found)
		ept_flush(vm);
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
	bool found;

	spin_lock(&vm->ept_lock);
	found = ept_zap_hva(vm, start, end);
	spin_unlock(&vm->ept_lock);
	if (found)
		ept_flush(vm);
	return found;
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

static void dune_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct dune_vm *vm = mn_to_vm(mn);
	bool found;

	spin_lock(&vm->ept_lock);
	vm->dead = true;
	vm->mmu_seq++;
	found = ept_zap_level(vm->ept_root, EPT_LEVELS - 1, 0, 0, ~0ULL);
	spin_unlock(&vm->ept_lock);
	if (found)
		ept_flush(vm);
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

/*
 * get_user_pages() refuses VM_IO/VM_PFNMAP areas such as the vDSO's vvar
 * page, which guest code reads on every clock_gettime().  Map such frames
 * read-only, and only if they are RAM (pfn_valid), never device memory: a
 * write-back EPT mapping of MMIO would be wrong.  Coherence still comes from
 * the notifier (zapping a PFN mapping invalidates it like any other PTE).
 */
static int ept_map_pfnmap(struct dune_vm *vm, u64 gpa, unsigned long hva,
			  bool write, unsigned long seq, bool *mapped)
{
	void *prealloc[EPT_LEVELS - 1] = {};
	int nprealloc = 0, i, ret = 1;
	struct vm_area_struct *vma;
	unsigned long pfn;
	u64 *leaf;

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
	if (!pfn_valid(pfn)) {
		mmap_read_unlock(current->mm);
		return 1;
	}
	mmap_read_unlock(current->mm);

	for (i = 0; i < EPT_LEVELS - 1; i++) {
		struct page *pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

		if (!pg)
			break;
		prealloc[nprealloc++] = page_address(pg);
	}
	spin_lock(&vm->ept_lock);
	if (vm->dead || vm->mmu_invalidating || vm->mmu_seq != seq) {
		ret = 0;	/* raced with an invalidation: refault */
	} else {
		leaf = ept_leaf(vm, gpa, prealloc, &nprealloc);
		if (leaf) {
			WRITE_ONCE(*leaf, ((u64)pfn << PAGE_SHIFT) |
				   VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK |
				   (EPT_MT_WB << VMX_EPT_MT_EPTE_SHIFT));
			*mapped = true;
			ret = 0;
		} else {
			ret = -ENOMEM;
		}
	}
	spin_unlock(&vm->ept_lock);
	for (i = 0; i < nprealloc; i++)
		if (prealloc[i])
			free_page((unsigned long)prealloc[i]);
	return ret;
}

/*
 * Handle an EPT violation at gpa.  Returns 0 to retry the guest, 1 if the
 * access is outside the process's memory (-> DUNE_RET_EPT_VIOLATION), or a
 * negative errno.  *mapped: a leaf was installed or upgraded (for the stats).
 * Runs preemptible, interrupts on, as current.
 */
int dune_ept_handle_violation(struct dune_vm *vm, u64 gpa, u64 qual, bool *mapped)
{
	bool write = qual & EPT_VIOLATION_ACC_WRITE;
	void *prealloc[EPT_LEVELS - 1] = {};
	int nprealloc = 0;
	unsigned long hva, seq;
	struct page *page;
	bool writable;
	u64 *leaf, entry;
	long n;
	int i, ret = 0;

	if (!dune_gpa_to_hva(&vm->layout, gpa, &hva))
		return 1;
	hva &= PAGE_MASK;

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

	for (i = 0; i < EPT_LEVELS - 1; i++) {
		struct page *pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

		if (!pg)
			break;
		prealloc[nprealloc++] = page_address(pg);
	}

	entry = (page_to_pfn(page) << PAGE_SHIFT) | VMX_EPT_READABLE_MASK |
		VMX_EPT_EXECUTABLE_MASK | (EPT_MT_WB << VMX_EPT_MT_EPTE_SHIFT);
	if (writable)
		entry |= VMX_EPT_WRITABLE_MASK;

	spin_lock(&vm->ept_lock);
	if (vm->dead || vm->mmu_invalidating || vm->mmu_seq != seq) {
		spin_unlock(&vm->ept_lock);
		goto out;	/* raced with an invalidation: let it refault */
	}
	leaf = ept_leaf(vm, gpa, prealloc, &nprealloc);
	if (!leaf) {
		spin_unlock(&vm->ept_lock);
		ret = -ENOMEM;
		goto out;
	}
	if (*leaf == entry) {
		/* Already there: the fault came from a stale TLB entry. */
		spin_unlock(&vm->ept_lock);
		on_each_cpu_mask(vm->cpus_used, dune_ept_flush_local, vm, 1);
		goto out;
	}
	/* A present entry is only upgraded (R -> RW, same frame) here. */
	WRITE_ONCE(*leaf, entry);
	spin_unlock(&vm->ept_lock);
	*mapped = true;
out:
	put_page(page);
	for (i = 0; i < nprealloc; i++)
		if (prealloc[i])
			free_page((unsigned long)prealloc[i]);
	return ret;
}
