/*
 * backend_kvm.c - the KVM back end: the same guest (libdune's ring 0, the
 * same page table, GDT, IDT) on /dev/kvm instead of dune.ko, on Intel and AMD
 * through KVM's own vendor split.  Host side only.
 *
 * The VM.  One per process (KVM ties a VM to the mm that created it, so a
 * fork child makes its own).  No in-kernel irqchip: interrupts are injected
 * with KVM_INTERRUPT and HLT leaves KVM_RUN with KVM_EXIT_HLT.
 *
 * Guest-physical memory.  The layout is the module's (struct dune_layout,
 * layout.h): host-virtual addresses below phys_limit - 64 GiB are their own
 * guest-physical addresses, and the mmap and stack windows sit at the top.
 * Memory slots cover it in whole 2 MiB granules (same offsets in both spaces),
 * created when the mirror first puts a page of a granule in the guest page
 * table (the map op, called from dune_map_range_locked(); a run of uncovered
 * granules becomes one slot), and dropped when a munmap/mremap/shmdt removes a
 * range that holds a slot wholly (the unmap op).  Which host pages back a slot
 * is KVM's business: its MMU notifiers follow mmap, munmap,
 * mremap, brk, fork's copy-on-write and swapping, as dune.ko's EPT does.  A
 * slot over host addresses with nothing mapped costs nothing; a guest
 * access there (a stale page-table entry, a wild CR3) makes KVM_RUN fail
 * with EFAULT, which the host loop sees as the module's EPT violation.  An
 * address in no slot at all is MMIO to KVM: a data access there exits to us
 * (KVM_EXIT_MMIO), but one the CPU's own page walk needs to fetch an
 * instruction or deliver an exception (hostile/wildcr3) cannot be emulated,
 * and KVM (6.1) re-injects the fault for ever without leaving KVM_RUN.
 *
 * The watchdog.  Each vCPU thread has a POSIX timer on its own CPU time
 * (DUNE_SIG_WATCHDOG, one signal per CPU second, never while the thread
 * sleeps): its signal takes KVM_RUN out with -EINTR, and the run op then walks
 * the guest's page table itself (host memory, read with process_vm_readv) for
 * rip, the IDT, GDT and TSS: a table or frame those walks need in no memory slot means
 * the vCPU can never progress, reported as the module's EPT violation (what
 * dune.ko reports for the same guest); otherwise the vCPU re-enters at once,
 * unseen by the host loop.  README "Back ends" says why not zero-filled slots.
 *
 * Exits.  The guest's system calls use "66 90 f4" (nop; hlt) instead of
 * VMCALL: KVM answers VMCALL/VMMCALL itself as a hypercall (and on AMD first
 * rewrites Intel's VMCALL into VMMCALL in guest memory), so it never reaches
 * user space, whereas HLT without an in-kernel local APIC does on both
 * vendors, with rip already past it.  Ring 3 cannot use it (HLT is
 * privileged: #GP).  Signals: KVM_RUN returns -EINTR when one is pending (the
 * host handler has then run); the recorder sets kvm_run.immediate_exit so a
 * signal that lands between the loop's check and KVM_RUN is not left waiting.
 * Vectors are injected one per entry when KVM says the guest can take one
 * (ready_for_interrupt_injection), else KVM is asked for an interrupt-window
 * exit.  Registers travel in kvm_run's sync area (KVM_CAP_SYNC_REGS) when
 * KVM has it, else with KVM_GET_REGS/KVM_SET_REGS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "maps.h"

#define GRANULE_SHIFT	21	/* 2 MiB: a slot is whole granules */
#define GRANULE		(1ULL << GRANULE_SHIFT)
#define USER_VA_END	0x7ffffffff000ULL	/* TASK_SIZE_MAX with 4-level paging */
#define MAX_VCPUS	1024			/* the vCPU pool (KVM_MAX_VCPUS in Linux 6.1) */
#define MAX_CPUID	256
#define ARCH_GET_FS	0x1003
#define ARCH_GET_GS	0x1004
#define IS_ERR_VAL(r)	((unsigned long)(r) >= (unsigned long)-4095L)

/* VMX basic exit reasons used to file KVM's counters in struct dune_stats (exit_reason.c names them) */
#define XR_EXTERNAL_INTERRUPT	1
#define XR_INTERRUPT_WINDOW	7
#define XR_HLT			12
#define XR_IO_INSTRUCTION	30
#define XR_EPT_VIOLATION	48

static int kvm_fd = -1;
static long run_size;
static bool sync_regs;
static int max_slots;
static uint64_t xcr0;
static bool have_xsave;
static struct {
	struct kvm_cpuid2 h;
	struct kvm_cpuid_entry2 e[MAX_CPUID];
} kcpuid;

/* memory slots: guest-physical ranges of whole 2 MiB granules (same offsets in both spaces) */
#define MAX_SLOTS	4096
struct slot {
	uint64_t gpa, size;	/* size 0: free entry */
};
static struct slot slots[MAX_SLOTS];
static volatile int slots_lock;

/*
 * vCPUs.  KVM frees a vCPU only with its VM, so a thread that ends puts its vCPU back in this pool
 * and the next new thread takes it (reset to the boot state) instead of growing the VM by one.
 * vCPU 0 is made when the VM is (kvm_open, and again in a fork child, on the parent's descriptor
 * numbers), so the main thread's descriptors exist when dune_init returns, next to the VM's: a
 * program that closes or reuses the descriptors it did not open (a shell, a sandbox's program)
 * finds them taken where dune.ko's one descriptor would be, instead of at the lowest free number.
 */
struct pool_vcpu {
	int fd, stats_fd;	/* fd -1: entry unused */
	void *run;
	uint64_t id;
	bool busy;		/* a thread runs it */
	bool ran;		/* set up once (KVM_SET_CPUID2 is allowed only before the first KVM_RUN) */
};
static struct pool_vcpu pool[MAX_VCPUS];
static int pool_len;
static volatile int pool_lock;
static uint64_t run_returns[DUNE_STATS_RETURNS];	/* KVM_RUN returns to the host loop, by DUNE_RET_* */
static uint64_t nr_vcpus_created, nr_vcpus_gone;

static long pool_new(int vm, int want_fd, int want_stats);

void dune_sigreturn_tramp(void) HIDDEN;

static long kvm_ioctl(int fd, unsigned long req, const void *arg)
{
	return host_syscall6(SYS_ioctl, fd, (long)req, (long)arg, 0, 0, 0);
}

/* ------------------------------------------------------------ layout */

static uint64_t start_stack(void)
{
	char buf[1024];
	long fd = host_syscall6(SYS_open, (long)"/proc/self/stat", O_RDONLY | O_CLOEXEC, 0, 0, 0, 0);
	long n;
	char *p;
	int field = 2;

	if (fd < 0)
		return 0;
	n = host_syscall6(SYS_read, fd, (long)buf, sizeof(buf) - 1, 0, 0, 0);
	host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');	/* field 2 (comm) may hold spaces */
	if (!p)
		return 0;
	for (p++; *p && field < 28; p++)
		if (*p == ' ')
			field++;
	return strtoull(p, NULL, 10);	/* field 28: startstack */
}

struct top_arg {
	uint64_t below, top;
};

static int mmap_top_cb(const struct maps_entry *e, void *arg)
{
	struct top_arg *a = arg;

	if (e->kind == MAPS_KIND_STACK || e->kind == MAPS_KIND_VDSO || e->kind == MAPS_KIND_VVAR ||
	    e->kind == MAPS_KIND_VSYSCALL || e->end > a->below)
		return 0;
	if (e->end > a->top)
		a->top = e->end;
	return 0;
}

/*
 * dune.ko puts the mmap window below mm->mmap_base and the stack window
 * around mm->start_stack.  User space sees start_stack in /proc/self/stat;
 * mmap_base is where top-down mmap starts, i.e. the end of the highest
 * mapping below the stack that is not the stack, vDSO or vvar.
 */
static int fill_layout(struct dune_layout *l, unsigned int phys_bits)
{
	struct top_arg a = { 0, 0 };
	char *buf;
	size_t len = 0, cap = 1 << 20;
	long fd, n;

	a.below = start_stack();
	if (!a.below)
		return -EIO;
	buf = host_or_guest_mmap(cap);
	if (!buf)
		return -ENOMEM;
	fd = host_syscall6(SYS_open, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0, 0, 0, 0);
	if (fd < 0) {
		host_or_guest_munmap(buf, cap);
		return (int)fd;
	}
	while (len < cap && (n = host_syscall6(SYS_read, fd, (long)(buf + len), (long)(cap - len), 0, 0, 0)) > 0)
		len += (size_t)n;
	host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	maps_parse(buf, len, mmap_top_cb, &a);
	host_or_guest_munmap(buf, cap);
	if (!a.top)
		a.top = a.below;
	l->phys_limit = 1ULL << phys_bits;
	l->base_map = ((a.top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1)) - GPA_MAP_SIZE;
	l->base_stack = ((a.below + (64ULL << 20) + (2ULL << 20) - 1) & ~((2ULL << 20) - 1)) - GPA_STACK_SIZE;
	return 0;
}

/* ------------------------------------------------------------ memory slots */

static long set_slot(int vm, int i)
{
	struct kvm_userspace_memory_region r;

	memset(&r, 0, sizeof(r));
	r.slot = (uint32_t)i;
	r.guest_phys_addr = slots[i].gpa;
	r.memory_size = slots[i].size;
	r.userspace_addr = slots[i].size ? dune_layout_pa_to_va(&dune_layout, slots[i].gpa) : 0;
	return kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

static bool covered(uint64_t gpa)
{
	int i;

	for (i = 0; i < MAX_SLOTS; i++)
		if (slots[i].size && gpa - slots[i].gpa < slots[i].size)
			return true;
	return false;
}

/* A slot for guest-physical [gpa, gpa+size), one layout region, granule-aligned. */
static int add_slot(uint64_t gpa, uint64_t size)
{
	uint64_t hva = dune_layout_pa_to_va(&dune_layout, gpa);
	long r;
	int i;

	if (hva == DUNE_BAD_PA || hva >= USER_VA_END)
		return -EFAULT;
	if (size > USER_VA_END - hva)
		size = USER_VA_END - hva;
	for (i = 0; i < MAX_SLOTS && i < max_slots; i++)
		if (!slots[i].size)
			break;
	if (i == MAX_SLOTS || i >= max_slots)
		return -ENOSPC;
	slots[i].gpa = gpa;
	slots[i].size = size;
	r = set_slot(dune_fd, i);
	if (r < 0) {
		slots[i].size = 0;
		return (int)r;
	}
	return 0;
}

/* Slots for every granule of [va, va+len) (one layout region) that has none: uncovered runs become one slot each. */
static int kvm_map(uintptr_t va, uint64_t len)
{
	uint64_t pa = dune_layout_va_to_pa(&dune_layout, va), g, end, run;
	int r = 0;

	if (pa == DUNE_BAD_PA || !len)
		return 0;	/* the caller finds that out itself */
	end = (pa + len + GRANULE - 1) & ~(GRANULE - 1);
	host_spin_lock(&slots_lock);
	for (g = pa & ~(GRANULE - 1); g < end && !r; g = run) {
		if (covered(g)) {
			run = g + GRANULE;
			continue;
		}
		for (run = g + GRANULE; run < end && !covered(run); run += GRANULE)
			;
		r = add_slot(g, run - g);
		if (r)
			dune_printf("dune: kvm: no memory slot for guest-physical %#llx-%#llx: %d\n",
				    (unsigned long long)g, (unsigned long long)run, r);
	}
	host_spin_unlock(&slots_lock);
	return r;
}

/* [va, va+len) is gone from the host: drop the slots that lie wholly inside it (their second-level
 * tables with them).  Slots only partly inside stay: their other pages may still be in use. */
static void kvm_unmap(uintptr_t va, uint64_t len)
{
	while (len) {
		uint64_t n = dune_layout_contig(&dune_layout, va, len), pa;
		int i;

		if (!n) {
			n = PGSIZE;
		} else {
			pa = dune_layout_va_to_pa(&dune_layout, va);
			host_spin_lock(&slots_lock);
			for (i = 0; i < MAX_SLOTS; i++)
				if (slots[i].size && slots[i].gpa >= pa && slots[i].gpa + slots[i].size <= pa + n) {
					slots[i].size = 0;
					set_slot(dune_fd, i);
				}
			host_spin_unlock(&slots_lock);
		}
		if (n >= len)
			break;
		va += n;
		len -= n;
	}
}

/* ------------------------------------------------------------ watchdog */

#ifndef SA_RESTORER
#define SA_RESTORER		0x04000000
#endif
#define SIGEV_THREAD_ID_	4	/* linux/signal.h: signal to one thread */
#define WATCHDOG_SEC		1	/* of the thread's CPU time */

struct k_sigevent {			/* the kernel's struct sigevent (64 bytes) */
	uint64_t value;
	int signo, notify;
	int tid, pad[11];
};

struct k_itimerspec {
	struct { long sec, nsec; } interval, value;
};

static void watchdog_handler(int sig, siginfo_t *si, void *uc)
{
	struct dune_thread *t = dune_self;

	(void)sig; (void)si; (void)uc;
	if (t)
		t->be.watchdog = 1;
}

static long watchdog_install(void)
{
	struct k_sigaction ka = {
		.handler = (void *)watchdog_handler,
		.flags = SA_SIGINFO | SA_RESTORER | SA_RESTART,
		.restorer = (void *)dune_sigreturn_tramp,
		.mask = ~0ULL,
	};

	return host_syscall6(SYS_rt_sigaction, DUNE_SIG_WATCHDOG, (long)&ka, 0, 8, 0, 0);
}

/* The calling thread's timer: DUNE_SIG_WATCHDOG to itself every WATCHDOG_SEC of its CPU time. */
static void watchdog_start(struct dune_thread *t)
{
	struct k_sigevent ev;
	struct k_itimerspec its;
	int id = -1;

	memset(&ev, 0, sizeof(ev));
	ev.signo = DUNE_SIG_WATCHDOG;
	ev.notify = SIGEV_THREAD_ID_;
	ev.tid = (int)host_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0);
	if (host_syscall6(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, (long)&ev, (long)&id, 0, 0, 0) < 0) {
		dune_printf("dune: kvm: no watchdog timer: a vCPU stuck on a wild page walk will spin\n");
		return;
	}
	memset(&its, 0, sizeof(its));
	its.interval.sec = its.value.sec = WATCHDOG_SEC;
	host_syscall6(SYS_timer_settime, id, 0, (long)&its, 0, 0, 0);
	t->be.timer = id;
	t->be.watchdog = 0;
}

static void watchdog_stop(struct dune_thread *t)
{
	if (t->be.timer >= 0)
		host_syscall6(SYS_timer_delete, t->be.timer, 0, 0, 0, 0, 0);
	t->be.timer = -1;
}

static bool covered_locked(uint64_t gpa)
{
	bool r;

	host_spin_lock(&slots_lock);
	r = covered(gpa);
	host_spin_unlock(&slots_lock);
	return r;
}

/*
 * Is a guest-physical page the CPU needs for linear address la under cr3 (a paging-structure page
 * or the final frame) in no memory slot?  Then *bad = that page.  No if the walk ends at a
 * not-present entry (the guest takes a #PF) or where host memory cannot be read (KVM_RUN fails
 * with EFAULT there by itself).
 */
static bool wild_page(uint64_t cr3, uint64_t la, uint64_t *bad)
{
	uint64_t table = cr3 & PTE_ADDR, e, hva;
	int level;

	for (level = 4; level > 0; level--) {
		unsigned int idx = (unsigned int)(la >> (PGSHIFT + 9 * (level - 1))) & 511;

		if (!covered_locked(table))
			goto wild;
		hva = dune_layout_pa_to_va(&dune_layout, table);
		if (hva == DUNE_BAD_PA || dune_host_copy(&e, (void *)(uintptr_t)(hva + idx * 8), sizeof(e)))
			return false;
		if (!(e & PTE_P))
			return false;
		if ((level == 2 || level == 3) && (e & PTE_PS)) {
			uint64_t size = 1ULL << (PGSHIFT + 9 * (level - 1));

			table = (e & PTE_ADDR & ~(size - 1)) | (la & (size - 1) & ~(uint64_t)(PGSIZE - 1));
			break;
		}
		table = e & PTE_ADDR;
	}
	if (covered_locked(table))
		return false;
wild:
	*bad = table;
	return true;
}

/* The watchdog fired: can this vCPU still fetch at rip and reach the tables exception delivery reads
 * (IDT, GDT, TSS)?  If not, the guest-physical page it lacks in *bad and the linear address that
 * needs it in *la. */
static bool vcpu_stuck(struct dune_thread *t, uint64_t *la, uint64_t *bad)
{
	struct kvm_sregs s;
	uint64_t need[4];
	int i, n = 0;

	if (kvm_ioctl(t->be.fd, KVM_GET_SREGS, &s) < 0)
		return false;
	need[n++] = t->conf.rip;
	if (s.idt.limit)
		need[n++] = s.idt.base;
	if (s.gdt.limit)
		need[n++] = s.gdt.base;
	if (s.tr.base)
		need[n++] = s.tr.base;
	for (i = 0; i < n; i++)
		if (wild_page(s.cr3, need[i], bad)) {
			*la = need[i];
			t->conf.cr3 = s.cr3;	/* for the fatal report: the guest's CR3, not the boot value */
			return true;
		}
	return false;
}

/* ------------------------------------------------------------ VM */

static int create_vm(void)
{
	long vm = kvm_ioctl(kvm_fd, KVM_CREATE_VM, 0);

	if (vm < 0)
		return (int)vm;
	/* KVM's fd is O_CLOEXEC already */
	return (int)vm;
}

/*
 * Can this /dev/kvm run an ordinary guest?  A throwaway VM runs one HLT in real mode: KVM_EXIT_HLT
 * or not.  (Some /dev/kvm providers, e.g. PVM, run only paravirtualized guests.)
 */
static bool kvm_probe(void)
{
	struct kvm_userspace_memory_region mr;
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_run *run = NULL;
	long vm, vcpu = -1, e;
	uint8_t *page;
	bool ok = false;

	vm = create_vm();
	if (vm < 0)
		return false;
	page = host_or_guest_mmap(PGSIZE);
	if (!page)
		goto out;
	page[0] = 0xf4;		/* hlt */
	memset(&mr, 0, sizeof(mr));
	mr.memory_size = PGSIZE;
	mr.userspace_addr = (uintptr_t)page;
	if (kvm_ioctl((int)vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		goto out;
	vcpu = kvm_ioctl((int)vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		goto out;
	run = (void *)host_syscall6(SYS_mmap, 0, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (IS_ERR_VAL(run)) {
		run = NULL;
		goto out;
	}
	if (kvm_ioctl((int)vcpu, KVM_GET_SREGS, &s) < 0)
		goto out;
	s.cs.base = 0;
	s.cs.selector = 0;
	if (kvm_ioctl((int)vcpu, KVM_SET_SREGS, &s) < 0)
		goto out;
	memset(&r, 0, sizeof(r));
	r.rflags = 2;
	if (kvm_ioctl((int)vcpu, KVM_SET_REGS, &r) < 0)
		goto out;
	e = host_syscall6(SYS_ioctl, vcpu, KVM_RUN, 0, 0, 0, 0);
	ok = e == 0 && run->exit_reason == KVM_EXIT_HLT;
out:
	if (run)
		host_syscall6(SYS_munmap, (long)run, run_size, 0, 0, 0, 0);
	if (vcpu >= 0)
		host_syscall6(SYS_close, vcpu, 0, 0, 0, 0, 0);
	if (page)
		host_or_guest_munmap(page, PGSIZE);
	host_syscall6(SYS_close, vm, 0, 0, 0, 0, 0);
	return ok;
}

static int kvm_open(struct dune_layout *layout, bool quiet)
{
	unsigned int phys_bits = 0;
	long r, vm;
	uint32_t i;

	/*
	 * auto: only a KVM on VT-x or SVM (kvm_intel, kvm_amd).  Another /dev/kvm provider (e.g. kvm_pvm,
	 * which runs paravirtualized guests only) may pass the probe below and still fail later.
	 */
	if (quiet && host_syscall6(SYS_access, (long)"/sys/module/kvm", F_OK, 0, 0, 0, 0) == 0 &&
	    host_syscall6(SYS_access, (long)"/sys/module/kvm_intel", F_OK, 0, 0, 0, 0) != 0 &&
	    host_syscall6(SYS_access, (long)"/sys/module/kvm_amd", F_OK, 0, 0, 0, 0) != 0)
		return -ENODEV;
	r = host_syscall6(SYS_open, (long)"/dev/kvm", O_RDWR | O_CLOEXEC, 0, 0, 0, 0);
	if (r < 0) {
		if (!quiet)
			dune_printf("dune: cannot open /dev/kvm: %s\n", strerror((int)-r));
		return (int)r;
	}
	kvm_fd = (int)r;
	r = kvm_ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		dune_printf("dune: /dev/kvm speaks API %ld, not %d\n", r, KVM_API_VERSION);
		r = -EINVAL;
		goto fail;
	}
	if (kvm_ioctl(kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) <= 0 ||
	    kvm_ioctl(kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
	    kvm_ioctl(kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_EXT_CPUID) <= 0) {
		dune_printf("dune: /dev/kvm lacks user memory, immediate exit or CPUID support\n");
		r = -EOPNOTSUPP;
		goto fail;
	}
	sync_regs = (kvm_ioctl(kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_SYNC_REGS) &
		     KVM_SYNC_X86_REGS) != 0;
	max_slots = (int)kvm_ioctl(kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_NR_MEMSLOTS);
	if (max_slots <= 0)
		max_slots = 32;
	run_size = kvm_ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (long)sizeof(struct kvm_run)) {
		r = run_size < 0 ? run_size : -EINVAL;
		goto fail;
	}
	if (!kvm_probe()) {
		if (!quiet)
			dune_printf("dune: /dev/kvm cannot run a plain guest (one HLT in real mode did not exit "
				    "with KVM_EXIT_HLT)\n");
		r = -ENODEV;
		goto fail;
	}
	kcpuid.h.nent = MAX_CPUID;
	r = kvm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, &kcpuid);
	if (r < 0) {
		dune_printf("dune: KVM_GET_SUPPORTED_CPUID failed: %ld\n", r);
		goto fail;
	}
	for (i = 0; i < kcpuid.h.nent; i++) {
		struct kvm_cpuid_entry2 *e = &kcpuid.e[i];

		/*
		 * The same CPU as under dune.ko: no XSAVES/XRSTORS (CPUID.(0xd,1).EAX
		 * bit 3, and no IA32_XSS bits in ECX/EDX).  Here they would only reach
		 * the guest's own XSS, but a libdune program must not see a feature
		 * one back end has and the other not.  KVM then leaves "enable
		 * XSAVES/XRSTORS" off, so XSAVES raises #UD (selftest/xsaves).
		 */
		if (e->function == 0xd && e->index == 1) {
			e->eax &= ~(1u << 3);
			e->ecx = 0;
			e->edx = 0;
		}
		if (e->function == 0x80000008)
			phys_bits = e->eax & 0xff;
		if (e->function == 1 && (e->ecx & (1u << 26)))
			have_xsave = true;
		if (e->function == 0xd && e->index == 0)
			xcr0 = e->eax | ((uint64_t)e->edx << 32);	/* what KVM lets the guest enable */
	}
	if (!phys_bits) {
		uint32_t a, b, c, d;

		cpuid(0x80000008, 0, &a, &b, &c, &d);
		phys_bits = a & 0xff;
	}
	{
		uint32_t a, b, c, d;

		cpuid(1, 0, &a, &b, &c, &d);
		if (!(c & (1u << 27)))		/* host OS has not enabled XSAVE */
			have_xsave = false;
	}
	if (have_xsave) {
		uint32_t lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 &= lo | ((uint64_t)hi << 32);	/* the guest runs code built for the host's XCR0 */
	}
	r = fill_layout(layout, phys_bits);
	if (r)
		goto fail;
	r = watchdog_install();
	if (r < 0)
		goto fail;
	vm = create_vm();
	if (vm < 0) {
		dune_printf("dune: KVM_CREATE_VM failed: %s\n", strerror((int)-vm));
		r = vm;
		goto fail;
	}
	r = pool_new((int)vm, -1, -1);	/* vCPU 0, for the first thread to enter */
	if (r < 0) {
		dune_printf("dune: KVM_CREATE_VCPU failed: %s\n", strerror((int)-r));
		host_syscall6(SYS_close, vm, 0, 0, 0, 0, 0);
		goto fail;
	}
	return (int)vm;
fail:
	host_syscall6(SYS_close, kvm_fd, 0, 0, 0, 0, 0);
	kvm_fd = -1;
	return (int)r;
}

/* ------------------------------------------------------------ vCPUs */

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->l = code64;
	s->db = !code64;
	s->g = 1;
}

static long put_regs(struct dune_thread *t)
{
	const struct dune_config *c = &t->conf;
	struct kvm_run *run = t->be.run;
	struct kvm_regs r, *rp = sync_regs ? &run->s.regs.regs : &r;

	rp->rax = c->rax; rp->rbx = c->rbx; rp->rcx = c->rcx; rp->rdx = c->rdx;
	rp->rsi = c->rsi; rp->rdi = c->rdi; rp->rsp = c->rsp; rp->rbp = c->rbp;
	rp->r8 = c->r8; rp->r9 = c->r9; rp->r10 = c->r10; rp->r11 = c->r11;
	rp->r12 = c->r12; rp->r13 = c->r13; rp->r14 = c->r14; rp->r15 = c->r15;
	rp->rip = c->rip; rp->rflags = c->rflags;
	if (sync_regs) {
		run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
		return 0;
	}
	return kvm_ioctl(t->be.fd, KVM_SET_REGS, &r);
}

static long get_regs(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;
	struct kvm_run *run = t->be.run;
	struct kvm_regs r, *rp = &r;

	if (sync_regs)
		rp = &run->s.regs.regs;
	else {
		long e = kvm_ioctl(t->be.fd, KVM_GET_REGS, &r);

		if (e < 0)
			return e;
	}
	c->rax = rp->rax; c->rbx = rp->rbx; c->rcx = rp->rcx; c->rdx = rp->rdx;
	c->rsi = rp->rsi; c->rdi = rp->rdi; c->rsp = rp->rsp; c->rbp = rp->rbp;
	c->r8 = rp->r8; c->r9 = rp->r9; c->r10 = rp->r10; c->r11 = rp->r11;
	c->r12 = rp->r12; c->r13 = rp->r13; c->r14 = rp->r14; c->r15 = rp->r15;
	c->rip = rp->rip; c->rflags = rp->rflags;
	return 0;	/* conf.cr3 keeps the boot value: the host loop only prints it */
}

/* fd onto number want (unless want < 0 or they are the same): the descriptor to use. */
static long fd_at(long fd, int want)
{
	if (fd < 0 || want < 0 || fd == want)
		return fd;
	if (host_syscall6(SYS_dup3, fd, want, O_CLOEXEC, 0, 0, 0) < 0)
		return fd;
	host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
	return want;
}

/* A new vCPU of VM vm at pool[pool_len] (pool_lock held or single-threaded), its descriptors on
 * want_fd/want_stats when those are >= 0: its index, or -errno. */
static long pool_new(int vm, int want_fd, int want_stats)
{
	struct pool_vcpu *v;
	long fd, i;
	void *run;

	if (pool_len == MAX_VCPUS)
		return -EAGAIN;
	i = pool_len;
	v = &pool[i];
	fd = fd_at(kvm_ioctl(vm, KVM_CREATE_VCPU, (void *)i), want_fd);
	if (fd < 0)
		return fd;
	run = (void *)host_syscall6(SYS_mmap, 0, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (IS_ERR_VAL(run)) {
		/* KVM keeps the vCPU (ids are not reusable): keep its fd, unusable without run */
		host_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
		return (long)run;
	}
	v->fd = (int)fd;
	v->run = run;
	v->id = (uint64_t)i;
	v->busy = false;
	v->ran = false;
	v->stats_fd = (int)fd_at(kvm_ioctl((int)fd, KVM_GET_STATS_FD, 0), want_stats);
	if (v->stats_fd < 0)
		v->stats_fd = -1;
	pool_len++;
	return i;
}

/* A vCPU from the pool, or a new one: its index, or -errno.  *fresh: never set up yet. */
static long pool_get(bool *fresh)
{
	long i;

	host_spin_lock(&pool_lock);
	for (i = 0; i < pool_len; i++)
		if (pool[i].fd >= 0 && !pool[i].busy)
			break;
	if (i == pool_len)
		i = pool_new(dune_fd, -1, -1);
	if (i >= 0) {
		pool[i].busy = true;
		*fresh = !pool[i].ran;
	}
	host_spin_unlock(&pool_lock);
	return i;
}

static void pool_put(long i)
{
	host_spin_lock(&pool_lock);
	pool[i].busy = false;
	host_spin_unlock(&pool_lock);
}

/* The thread's first entry: a vCPU in 64-bit ring 0 on libdune's page table, FS/GS as the thread's. */
static long vcpu_create(struct dune_thread *t)
{
	struct kvm_sregs s;
	struct kvm_xcrs x;
	uint64_t fsb = 0, gsb = 0;
	bool fresh;
	long i = pool_get(&fresh), r;
	int fd;

	if (i < 0)
		return i;
	fd = pool[i].fd;
	t->be.fd = fd;
	t->be.run = pool[i].run;
	t->be.id = pool[i].id;
	t->be.stats_fd = pool[i].stats_fd;
	t->be.slot = (int)i;
	memset(t->be.intr, 0, sizeof(t->be.intr));

	if (fresh) {
		r = kvm_ioctl(fd, KVM_SET_CPUID2, &kcpuid);	/* only before the first KVM_RUN */
		if (r < 0)
			goto fail;
	} else {
		/* a used vCPU: nothing pending from its last thread, FPU/SSE in the reset state */
		struct kvm_vcpu_events ev;
		struct kvm_fpu f;

		memset(&ev, 0, sizeof(ev));
		r = kvm_ioctl(fd, KVM_SET_VCPU_EVENTS, &ev);
		if (r < 0)
			goto fail;
		memset(&f, 0, sizeof(f));
		f.fcw = 0x37f;
		f.mxcsr = 0x1f80;
		r = kvm_ioctl(fd, KVM_SET_FPU, &f);
		if (r < 0)
			goto fail;
	}
	r = kvm_ioctl(fd, KVM_GET_SREGS, &s);
	if (r < 0)
		goto fail;
	host_syscall6(SYS_arch_prctl, ARCH_GET_FS, (long)&fsb, 0, 0, 0, 0);
	host_syscall6(SYS_arch_prctl, ARCH_GET_GS, (long)&gsb, 0, 0, 0, 0);
	set_seg(&s.cs, GD_KT, 0xb, true);
	set_seg(&s.ds, GD_KD, 0x3, false);
	s.es = s.ds;
	s.ss = s.ds;
	set_seg(&s.fs, 0, 0x3, false);
	s.fs.base = fsb;
	set_seg(&s.gs, 0, 0x3, false);
	s.gs.base = gsb;
	/* until __dune_boot's ltr: a busy 64-bit TSS, as VM entry wants */
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.selector = GD_TSS;
	s.tr.limit = 0x67;
	s.tr.type = 0xb;
	s.tr.present = 1;
	memset(&s.ldt, 0, sizeof(s.ldt));
	s.ldt.type = 2;
	s.ldt.unusable = 1;
	s.gdt.base = 0;
	s.gdt.limit = 0;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = X86_CR0_PE | X86_CR0_MP | (1UL << 4) /* ET */ | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s.cr3 = t->conf.cr3;
	s.cr4 = X86_CR4_PAE | (1UL << 4) /* PSE */ | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	if (have_xsave)
		s.cr4 |= X86_CR4_OSXSAVE;
	{
		uint32_t a, b, c, d;

		cpuid(7, 0, &a, &b, &c, &d);
		if (b & 1)
			s.cr4 |= X86_CR4_FSGSBASE;
	}
	s.efer = 0xd01;		/* SCE, LME, LMA, NXE */
	memset(s.interrupt_bitmap, 0, sizeof(s.interrupt_bitmap));
	r = kvm_ioctl(fd, KVM_SET_SREGS, &s);
	if (r < 0) {
		dune_printf("dune: kvm: KVM_SET_SREGS failed: %ld\n", r);
		goto fail;
	}
	if (have_xsave && xcr0) {
		memset(&x, 0, sizeof(x));
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = xcr0;
		r = kvm_ioctl(fd, KVM_SET_XCRS, &x);
		if (r < 0) {
			dune_printf("dune: kvm: KVM_SET_XCRS(%#llx) failed: %ld\n", (unsigned long long)xcr0, r);
			goto fail;
		}
	}
	if (sync_regs)
		((struct kvm_run *)t->be.run)->kvm_valid_regs = KVM_SYNC_X86_REGS;
	((struct kvm_run *)t->be.run)->immediate_exit = 0;
	((struct kvm_run *)t->be.run)->request_interrupt_window = 0;
	pool[i].ran = true;
	watchdog_start(t);
	__atomic_add_fetch(&nr_vcpus_created, 1, __ATOMIC_SEQ_CST);
	t->conf.vcpu = t->be.id + 1;
	return 0;
fail:
	pool_put(i);
	t->be.fd = -1;
	t->be.run = NULL;
	t->be.slot = -1;
	return r;
}

/* One queued vector into the guest if it can take it now; else ask KVM to exit when it can. */
static long inject(struct dune_thread *t)
{
	struct kvm_run *run = t->be.run;
	int w;

	run->request_interrupt_window = 0;
	for (w = 0; w < 4; w++) {
		struct kvm_interrupt irq;
		long r;

		if (!t->be.intr[w])
			continue;
		if (!run->ready_for_interrupt_injection) {
			run->request_interrupt_window = 1;
			return 0;
		}
		irq.irq = (uint32_t)(w * 64 + __builtin_ctzll(t->be.intr[w]));
		r = kvm_ioctl(t->be.fd, KVM_INTERRUPT, &irq);
		if (r < 0)
			return r;
		t->be.intr[w] &= t->be.intr[w] - 1;
		/* one per entry: the next waits for the guest to be ready again */
		for (; w < 4; w++)
			if (t->be.intr[w])
				run->request_interrupt_window = 1;
		return 0;
	}
	return 0;
}

static void count_return(struct dune_thread *t)
{
	if (t->conf.ret >= 0 && t->conf.ret < DUNE_STATS_RETURNS)
		__atomic_add_fetch(&run_returns[t->conf.ret], 1, __ATOMIC_RELAXED);
}

static long kvm_run_vcpu(struct dune_thread *t)
{
	struct dune_config *c = &t->conf;
	struct kvm_run *run;
	long r;

	if (t->be.fd < 0) {
		r = vcpu_create(t);
		if (r < 0)
			return r;
	}
	run = t->be.run;
	for (;;) {
		r = put_regs(t);
		if (r < 0)
			return r;
		r = inject(t);
		if (r < 0)
			return r;
		r = host_syscall6(SYS_ioctl, t->be.fd, KVM_RUN, 0, 0, 0, 0);
		run->immediate_exit = 0;	/* pending signals are looked at next (host loop) */
		if (get_regs(t) < 0)
			return -EIO;
		if (r == -EINTR) {
			if (t->be.watchdog) {
				uint64_t la, bad;

				t->be.watchdog = 0;
				if (vcpu_stuck(t, &la, &bad)) {
					dune_printf("dune: kvm: vCPU stuck: guest-physical %#llx, needed to reach "
						    "%#llx, is outside the process\n",
						    (unsigned long long)bad, (unsigned long long)la);
					c->ret = DUNE_RET_EPT_VIOLATION;
					c->status = XR_EPT_VIOLATION;
					break;
				}
				if (!t->pending)
					continue;	/* only the watchdog: the host loop has nothing to do */
			}
			c->ret = DUNE_RET_SIGNAL;
			break;
		}
		if (r == -EFAULT) {
			/* guest-physical memory with no host page behind it */
			c->ret = DUNE_RET_EPT_VIOLATION;
			c->status = XR_EPT_VIOLATION;
			break;
		}
		if (r < 0)
			return r;
		switch (run->exit_reason) {
		case KVM_EXIT_HLT:
			c->ret = DUNE_RET_SYSCALL;	/* rip is past the hlt already */
			break;
		case KVM_EXIT_IRQ_WINDOW_OPEN:
			continue;
		case KVM_EXIT_INTR:
			c->ret = DUNE_RET_SIGNAL;
			break;
		case KVM_EXIT_SHUTDOWN:
			c->ret = DUNE_RET_UNHANDLED_VMEXIT;
			c->status = 2;		/* triple fault, as dune.ko reports it */
			break;
		case KVM_EXIT_FAIL_ENTRY:
			c->ret = DUNE_RET_NOENTER;
			c->status = (int64_t)run->fail_entry.hardware_entry_failure_reason;
			break;
		case KVM_EXIT_MMIO:
			/* beyond every memory slot: outside the process */
			c->ret = DUNE_RET_EPT_VIOLATION;
			c->status = XR_EPT_VIOLATION;
			dune_printf("dune: kvm: guest access to guest-physical %#llx outside the process\n",
				    (unsigned long long)run->mmio.phys_addr);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			c->ret = DUNE_RET_UNHANDLED_VMEXIT;
			c->status = 0x10000 + run->internal.suberror;
			dune_printf("dune: kvm: internal error, suberror %u\n", run->internal.suberror);
			break;
		default:
			c->ret = DUNE_RET_UNHANDLED_VMEXIT;
			c->status = 0x20000 + run->exit_reason;
			dune_printf("dune: kvm: unexpected exit %u\n", run->exit_reason);
			break;
		}
		break;
	}
	count_return(t);
	return 0;
}

static long kvm_queue_intr(struct dune_thread *t, unsigned int vec)
{
	if (vec < 32 || vec > 255)
		return -EINVAL;
	t->be.intr[vec / 64] |= 1ULL << (vec % 64);
	return 0;
}

static void kvm_kick(struct dune_thread *t)
{
	struct kvm_run *run = t->be.run;

	if (run)
		run->immediate_exit = 1;
}

/* ------------------------------------------------------------ stats */

struct vcpu_counters {
	uint64_t exits, halt_exits, irq_window_exits, irq_exits, io_exits, pf_taken, pf_fixed,
		 irq_injections, fpu_reload;
};

static void read_vcpu_stats(int sfd, struct vcpu_counters *v)
{
	static const struct { const char *name; size_t off; } want[] = {
		{ "exits", offsetof(struct vcpu_counters, exits) },
		{ "halt_exits", offsetof(struct vcpu_counters, halt_exits) },
		{ "irq_window_exits", offsetof(struct vcpu_counters, irq_window_exits) },
		{ "irq_exits", offsetof(struct vcpu_counters, irq_exits) },
		{ "io_exits", offsetof(struct vcpu_counters, io_exits) },
		{ "pf_taken", offsetof(struct vcpu_counters, pf_taken) },
		{ "pf_fixed", offsetof(struct vcpu_counters, pf_fixed) },
		{ "irq_injections", offsetof(struct vcpu_counters, irq_injections) },
		{ "fpu_reload", offsetof(struct vcpu_counters, fpu_reload) },
	};
	struct kvm_stats_header h;
	char desc[sizeof(struct kvm_stats_desc) + 128];
	uint32_t i;
	size_t j, dsz;

	memset(v, 0, sizeof(*v));
	if (sfd < 0 || host_syscall6(SYS_pread64, sfd, (long)&h, sizeof(h), 0, 0, 0) != sizeof(h))
		return;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	if (dsz > sizeof(desc))
		return;
	for (i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d = (const struct kvm_stats_desc *)desc;
		uint64_t val;

		if (host_syscall6(SYS_pread64, sfd, (long)desc, (long)dsz, (long)(h.desc_offset + i * dsz), 0, 0) !=
		    (long)dsz)
			return;
		desc[dsz - 1] = 0;
		for (j = 0; j < sizeof(want) / sizeof(want[0]); j++) {
			if (strcmp(d->name, want[j].name))
				continue;
			if (host_syscall6(SYS_pread64, sfd, (long)&val, 8, (long)(h.data_offset + d->offset), 0, 0) == 8)
				*(uint64_t *)((char *)v + want[j].off) = val;
		}
	}
}

static void add_counters(struct dune_stats *st, const struct vcpu_counters *v)
{
	uint64_t named = v->halt_exits + v->irq_window_exits + v->irq_exits + v->io_exits + v->pf_taken;

	st->exits += v->exits;
	st->exit_reasons[XR_HLT] += v->halt_exits;
	st->exit_reasons[XR_INTERRUPT_WINDOW] += v->irq_window_exits;
	st->exit_reasons[XR_EXTERNAL_INTERRUPT] += v->irq_exits;
	st->exit_reasons[XR_IO_INSTRUCTION] += v->io_exits;
	st->exit_reasons[XR_EPT_VIOLATION] += v->pf_taken;
	st->exits_other += v->exits > named ? v->exits - named : 0;
	st->ept_violations += v->pf_taken;
	st->ept_pages_mapped += v->pf_fixed;
	st->interrupts_injected += v->irq_injections;
	st->fpu_loads += v->fpu_reload;
}

static long kvm_get_stats(struct dune_stats *ust)
{
	struct dune_stats st;
	struct vcpu_counters v;
	int i;

	memset(&st, 0, sizeof(st));
	host_spin_lock(&pool_lock);
	for (i = 0; i < pool_len; i++)
		if (pool[i].fd >= 0) {
			read_vcpu_stats(pool[i].stats_fd, &v);
			add_counters(&st, &v);
		}
	host_spin_unlock(&pool_lock);
	st.vcpus = nr_vcpus_created;
	st.vcpus_destroyed = nr_vcpus_gone;
	for (i = 0; i < DUNE_STATS_RETURNS; i++) {
		st.returns[i] = run_returns[i];
		st.ioctl_returns += run_returns[i];
	}
	st.entries = st.exits;
	{
		long pid = host_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
		struct iovec l = { &st, sizeof(st) }, r = { ust, sizeof(st) };
		long n = host_syscall6(SYS_process_vm_writev, pid, (long)&l, 1, (long)&r, 1, 0);

		if (n == -ENOSYS || n == -EPERM) {
			memcpy(ust, &st, sizeof(st));
			return 0;
		}
		return n == (long)sizeof(st) ? 0 : -EFAULT;
	}
}

/* ------------------------------------------------------------ teardown */

/* The thread is leaving: its vCPU goes back to the pool (KVM would keep it until the VM goes anyway). */
static void kvm_vcpu_release(struct dune_thread *t)
{
	watchdog_stop(t);
	if (t->be.slot < 0)
		return;
	pool_put(t->be.slot);
	t->be.slot = -1;
	t->be.fd = -1;
	t->be.run = NULL;
	__atomic_add_fetch(&nr_vcpus_gone, 1, __ATOMIC_SEQ_CST);
}

/* Fork child: the parent's VM belongs to the parent's mm.  Drop every inherited vCPU and build a
 * fresh VM with the same memory slots at the same fd number, and its vCPU 0 at the parent's vCPU 0
 * numbers; counters start at zero. */
static int kvm_fork_child(int oldfd)
{
	int fd0 = pool_len ? pool[0].fd : -1, stats0 = pool_len ? pool[0].stats_fd : -1;
	long vm;
	int i, r;

	pool_lock = 0;
	for (i = 0; i < pool_len; i++) {
		if (pool[i].stats_fd >= 0)
			host_syscall6(SYS_close, pool[i].stats_fd, 0, 0, 0, 0, 0);
		if (pool[i].fd >= 0) {
			host_syscall6(SYS_munmap, (long)pool[i].run, run_size, 0, 0, 0, 0);
			host_syscall6(SYS_close, pool[i].fd, 0, 0, 0, 0, 0);
		}
		pool[i].fd = pool[i].stats_fd = -1;
		pool[i].busy = false;
	}
	pool_len = 0;
	memset(run_returns, 0, sizeof(run_returns));
	nr_vcpus_created = nr_vcpus_gone = 0;
	vm = create_vm();
	if (vm < 0)
		return (int)vm;
	fd_at(vm, oldfd);
	r = (int)pool_new(oldfd, fd0, stats0);	/* vCPU 0 on the parent's vCPU 0 descriptor numbers */
	if (r < 0)
		return r;
	slots_lock = 0;
	for (i = 0; i < MAX_SLOTS; i++)
		if (slots[i].size) {
			r = (int)set_slot(oldfd, i);
			if (r)
				return r;
		}
	return 0;
}

const struct dune_backend dune_backend_kvm = {
	.name = "kvm",
	.exit_insn = DUNE_EXIT_HLT,
	.guest_fpu_in_thread = false,
	.open = kvm_open,
	.fork_child = kvm_fork_child,
	.map = kvm_map,
	.unmap = kvm_unmap,
	.run = kvm_run_vcpu,
	.queue_intr = kvm_queue_intr,
	.kick = kvm_kick,
	.vcpu_release = kvm_vcpu_release,
	.get_stats = kvm_get_stats,
};
