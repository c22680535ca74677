/* compat/libdune/cpu-x86.h: the original tree's header path; everything is in compat/dune.h */
#include "../dune.h"
