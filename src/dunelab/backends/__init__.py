"""VM backends behind one interface (base.Backend); `get` maps a lab's backend name to one."""

from __future__ import annotations

from .base import Backend, BootMedia, BootPlan
from .bochs import BochsBackend
from .qemu import QemuKvmBackend, QemuTcgBackend

BACKENDS: dict[str, type[Backend]] = {
    b.name: b for b in (BochsBackend, QemuKvmBackend, QemuTcgBackend)
}


def get(name: str) -> Backend:
    return BACKENDS[name]()


__all__ = ["Backend", "BootMedia", "BootPlan", "BACKENDS", "get"]
