/* Tiny program the ELF loader tests load (built -static -no-pie and as a dynamic PIE). */
#include <stdio.h>

int counter = 42;		/* .data */
static char scratch[100000];	/* .bss spanning several pages */

int main(int argc, char **argv)
{
	scratch[argc] = 1;
	printf("%s %d %d\n", argv[0], counter, scratch[1]);
	return 0;
}
