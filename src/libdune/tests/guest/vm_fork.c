/*
 * vm_fork: fork inside Dune, then BOTH sides use the page-table API on
 * their own copy of the table: map a new allocator page, write protect a
 * page and take the write fault in their handler, walk dirty bits, unmap.
 * A page mapped before the fork is private to each side afterwards (the
 * host copied the process, page tables and page region included).
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

#define SHARED_VA	((char *)0x6f0000000000ULL)	/* mapped before the fork */
#define PRIVATE_VA	((char *)0x6f0000200000ULL)	/* mapped after it, by each side */

static char *guarded;		/* a host page each side write-protects */
static volatile int faults;
static volatile uintptr_t fault_addr;

static void pgflt(uintptr_t addr, uint64_t fec, struct dune_tf *tf)
{
	(void)tf;
	fault_addr = addr;
	if (++faults > 3 || !(fec & FEC_P) || !(fec & FEC_W) ||
	    dune_vm_mprotect(pgroot, guarded, PGSIZE, PERM_R | PERM_W | PERM_U)) {
		dune_printf("FAIL vm_fork: unexpected fault at %lx fec %lx\n", (unsigned long)addr,
			    (unsigned long)fec);
		dune_die();
	}
	dune_flush_tlb_one(addr);
}

static int count_dirty(const void *arg, ptent_t *pte, void *va)
{
	(void)va;
	if (*pte & PTE_D)
		(*(int *)arg)++;
	return 0;
}

/* What each side does after the fork; `who` is "parent" or "child". */
static void use_page_tables(const char *who)
{
	struct dune_page *pg, *found = NULL;
	volatile char *priv = (volatile char *)PRIVATE_VA;
	size_t used;
	ptent_t *pte;
	int dirty = 0;

	TEST_ASSERT(dune_in_guest());
	TEST_ASSERT((read_cr3() & PTE_ADDR) == dune_pgroot_pa());

	/* the pre-fork page: still mapped, now this side's own */
	TEST_ASSERT(strcmp(SHARED_VA, "before fork") == 0);
	snprintf(SHARED_VA, 64, "written by the %s", who);

	/* a new page at a new VA */
	pg = dune_page_alloc();
	TEST_ASSERT(pg != NULL);
	TEST_ASSERT(dune_vm_insert_page(pgroot, PRIVATE_VA, pg, PERM_R | PERM_W) == 0);
	dune_flush_tlb_one((uintptr_t)PRIVATE_VA);
	snprintf((char *)priv, 64, "%s page", who);
	TEST_ASSERT(dune_vm_lookup_page(pgroot, PRIVATE_VA, &found) == 0 && found == pg);
	TEST_ASSERT(strncmp(dune_page2va(pg), who, strlen(who)) == 0);

	/* write protection and the fault handler */
	faults = 0;
	TEST_ASSERT(dune_vm_mprotect(pgroot, guarded, PGSIZE, PERM_R | PERM_U) == 0);
	dune_flush_tlb_one((uintptr_t)guarded);
	((volatile char *)guarded)[8] = who[0];
	TEST_ASSERT(faults == 1 && fault_addr == (uintptr_t)guarded + 8);
	TEST_ASSERT(guarded[8] == who[0]);

	/* dirty bits: the new page was written */
	TEST_ASSERT(dune_vm_page_walk(pgroot, PRIVATE_VA, PRIVATE_VA + PGSIZE, count_dirty, &dirty) == 0);
	TEST_ASSERT(dirty == 1);

	TEST_ASSERT(dune_vm_unmap(pgroot, PRIVATE_VA, PGSIZE) == 0);
	dune_flush_tlb_one((uintptr_t)PRIVATE_VA);
	TEST_ASSERT(dune_vm_lookup(pgroot, PRIVATE_VA, CREATE_NONE, &pte) != 0 || !(*pte & PTE_P));
	TEST_ASSERT(pg->ref == 1);
	used = dune_page_nr_used();
	TEST_ASSERT(dune_page_put(pg));
	TEST_ASSERT(dune_page_nr_used() == used - 1);
	printf("vm_fork %s (pid %d): page-table API ok\n", who, getpid());
	fflush(stdout);
}

int main(void)
{
	struct dune_page *shared;
	pid_t child;
	int status = 0;

	test_enter("vm_fork");
	guarded = mmap(NULL, PGSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(guarded != MAP_FAILED);
	guarded[0] = 1;
	shared = dune_page_alloc();
	TEST_ASSERT(shared != NULL);
	TEST_ASSERT(dune_vm_insert_page(pgroot, SHARED_VA, shared, PERM_R | PERM_W) == 0);
	dune_flush_tlb_one((uintptr_t)SHARED_VA);
	strcpy(SHARED_VA, "before fork");
	dune_register_pgflt_handler(pgflt);

	fflush(stdout);
	child = fork();
	TEST_ASSERT(child >= 0);
	if (child == 0) {
		use_page_tables("child");
		TEST_ASSERT(strcmp(SHARED_VA, "written by the child") == 0);
		_exit(0);
	}
	TEST_ASSERT(waitpid(child, &status, 0) == child);
	TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the child's writes stayed in the child */
	TEST_ASSERT(guarded[8] == 0);
	use_page_tables("parent");
	TEST_ASSERT(strcmp(SHARED_VA, "written by the parent") == 0);
	TEST_ASSERT(dune_vm_unmap(pgroot, SHARED_VA, PGSIZE) == 0);
	dune_flush_tlb();
	TEST_ASSERT(shared->ref == 1);
	dune_page_put(shared);
	test_pass();
	return 0;
}
