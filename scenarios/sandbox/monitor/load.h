/* load.h - loading programs into the arena (load.c). */
#ifndef SBX_LOAD_H
#define SBX_LOAD_H

#include <stdbool.h>

#include <dune.h>
#include <dune_elf.h>

#define SBX_MAX_EXTRA	12

struct sbx_exec {
	int fd, interp_fd;
	struct dune_elf prog, interp;
	bool prog_open, interp_open;
	char path[4096];	/* canonical path of the program (after #! lines: the ELF file) */
	char execfn[4096];	/* the path as given (AT_EXECFN) */
	char **argv;		/* argv, rewritten by #! lines */
	int argc;
	char *extra[SBX_MAX_EXTRA];	/* strings argv borrows from #! lines */
	int nextra;
};

/* Everything that may fail harmlessly: open through the policy, #!, ELF checks. */
int sbx_prepare(const char *path, char *const argv[], struct sbx_exec *x);
/* Map into the (empty) arena, build the stack, set the registers. */
int sbx_commit(struct sbx_exec *x, char *const envp[], struct dune_tf *tf);
void sbx_exec_free(struct sbx_exec *x);

#endif
