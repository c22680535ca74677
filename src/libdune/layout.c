/*
 * layout.c - the process's struct dune_layout (read from /dev/dune by
 * dune_init) and the public address helpers built on layout.h.
 */
#include "internal.h"

struct dune_layout dune_layout;

uint64_t dune_va_to_pa(const void *va)
{
	return dune_layout_va_to_pa(&dune_layout, (uintptr_t)va);
}

void *dune_pa_to_va(uint64_t pa)
{
	uint64_t va = dune_layout_pa_to_va(&dune_layout, pa);

	return va == DUNE_BAD_PA ? NULL : (void *)(uintptr_t)va;
}
