/* vm_dirty: the page walk reports exactly the pages written since the dirty
 * bits were last cleared (clear + flush, then only new writes show up). */
#include <sys/mman.h>
#include "../test_util.h"

#define NPAGES	16

struct dirty {
	uintptr_t base;
	unsigned mask;		/* bit i: page i was dirty */
	int other;		/* dirty leaves reported outside the buffer */
};

static int collect_and_clear(const void *arg, ptent_t *pte, void *va)
{
	struct dirty *d = (struct dirty *)arg;
	uintptr_t a = (uintptr_t)va;

	if (!(*pte & PTE_D))
		return 0;
	if (*pte & PTE_PS || a < d->base || a >= d->base + NPAGES * PGSIZE)
		d->other++;
	else
		d->mask |= 1u << ((a - d->base) / PGSIZE);
	*pte &= ~PTE_D;
	return 0;
}

static unsigned scan(char *buf)
{
	struct dirty d = { (uintptr_t)buf, 0, 0 };

	TEST_ASSERT(dune_vm_page_walk(pgroot, buf, buf + NPAGES * PGSIZE, collect_and_clear, &d) == 0);
	TEST_ASSERT(d.other == 0);
	dune_flush_tlb();	/* the CPU caches D in the TLB: without this it would not set it again */
	return d.mask;
}

int main(void)
{
	volatile char *buf;
	unsigned m;
	int i;

	test_enter("vm_dirty");
	buf = mmap(NULL, NPAGES * PGSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(buf != MAP_FAILED);
	for (i = 0; i < NPAGES; i++)
		buf[i * PGSIZE] = 1;
	m = scan((char *)buf);
	TEST_ASSERT(m == (1u << NPAGES) - 1);	/* everything was written */
	TEST_ASSERT(scan((char *)buf) == 0);	/* cleared */

	buf[2 * PGSIZE + 7] = 2;
	buf[5 * PGSIZE] = 2;
	buf[11 * PGSIZE + 4095] = 2;
	(void)buf[9 * PGSIZE];			/* a read does not dirty */
	m = scan((char *)buf);
	if (m != ((1u << 2) | (1u << 5) | (1u << 11))) {
		printf("FAIL vm_dirty: dirty mask %#x\n", m);
		return 1;
	}
	buf[7 * PGSIZE] = 3;
	m = scan((char *)buf);
	if (m != (1u << 7)) {
		printf("FAIL vm_dirty: second dirty mask %#x\n", m);
		return 1;
	}
	test_pass();
	return 0;
}
