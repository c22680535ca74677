/*
 * hello: a plain static program (no libdune) that dune_exec_user() runs in
 * ring 3 in the user_elf guest test.  It exercises what a real program's
 * startup needs from the loader and the syscall layer: argv/envp/auxv,
 * TLS (arch_prctl), the heap (brk, then mmap for a large block), stdio,
 * uname (which the test's filter denies), and the exit status.
 * `hello segv` dies on a NULL write instead; `hello peek ADDR` / `hello poke
 * ADDR` read / write a word at ADDR (the test passes addresses in its own,
 * ring-0-only memory: the sandboxed program must die trying).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/auxv.h>
#include <sys/utsname.h>

static __thread int tls_word = 1234;	/* initialised TLS: needs a correct FS base */

int main(int argc, char **argv)
{
	const char *env = getenv("DUNE_PAYLOAD");
	unsigned short cs;
	struct utsname u;
	char *small, *big;
	int i, uname_ret;

	if (argc > 1 && !strcmp(argv[1], "segv")) {
		*(volatile int *)0 = 1;
		return 0;
	}
	if (argc > 2 && (!strcmp(argv[1], "peek") || !strcmp(argv[1], "poke"))) {
		volatile char *p = (volatile char *)strtoul(argv[2], NULL, 16);

		if (argv[1][1] == 'e')
			printf("peeked %c\n", *p);
		else
			*p = 'X';
		return 0;
	}
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	uname_ret = uname(&u) ? -errno : 0;
	small = malloc(100);		/* from brk */
	big = malloc(4 << 20);		/* from mmap */
	if (!small || !big)
		return 99;
	strcpy(small, "heap");
	memset(big, 0x5a, 4 << 20);
	printf("argc=%d argv=", argc);
	for (i = 0; i < argc; i++)
		printf("%s%s", i ? "|" : "", argv[i]);
	printf(" env=%s tls=%d %s=%d cpl=%d pagesz=%lu uname=%d\n", env ? env : "(none)", tls_word, small,
	       big[(4 << 20) - 1] == 0x5a, cs & 3, getauxval(AT_PAGESZ), uname_ret);
	free(big);
	free(small);
	return argc + 4;
}
