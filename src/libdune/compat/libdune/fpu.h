/* compat/libdune/fpu.h: the original tree's header path; everything is in compat/dune.h */
#include "../dune.h"
