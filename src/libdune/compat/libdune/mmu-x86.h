/* compat/libdune/mmu-x86.h: the original tree's header path; everything is in compat/dune.h */
#include "../dune.h"
