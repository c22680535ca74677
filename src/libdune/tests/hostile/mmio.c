/* mmio: a PFN mapping that is not RAM - /dev/mem of the BIOS area at 0xf0000, a
 * reserved range, readable by root on the host - is never mapped into the guest
 * (dune.ko checks page_is_ram(), not pfn_valid()): the read ends the process with
 * an EPT violation, status 125, instead of giving the guest firmware or device
 * memory with a memory type of its choosing. */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../test_util.h"

int main(void)
{
	volatile uint8_t *p;
	uint8_t host;
	int fd;

	test_name = "mmio";
	fd = open("/dev/mem", O_RDONLY | O_SYNC);
	TEST_ASSERT(fd >= 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0xf0000);
	TEST_ASSERT(p != MAP_FAILED);
	host = p[0x10];
	printf("mmio: host reads %#x at 0xf0010; now from Dune mode, expect status %d\n", host,
	       DUNE_EXIT_VMEXIT);
	fflush(stdout);
	test_enter("mmio");
	host = p[0x10];
	printf("UNEXPECTED mmio: the guest read %#x from the BIOS area\n", host);
	return 3;
}
