/* compat/libdune/dune.h: the original tree's path ("libdune/dune.h") for compat/dune.h */
#include "../dune.h"
