"""The interface every VM backend implements: check the host, plan a boot, and what the guest gets.

A backend only *plans*: it returns the emulator's argv and the config files to write. Starting,
waiting for SSH, timeouts and killing are the same for all backends and live in dunelab.vm.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..hostinfo import HostInfo
from ..labdef import LabSpec

# Arguments every guest kernel gets: serial console (the console log), no reboot loops, and no rate
# limit on /dev/kmsg, where the guest's scripts write their console lines (guest/init).
BASE_CMDLINE = "console=ttyS0,115200 panic=-1 printk.devkmsg=on"


@dataclass(frozen=True)
class BootMedia:
    """What the lab prepared for this boot (paths in the lab's state directory)."""

    kernel: Path
    initrd: Path                 # the image's initramfs with the lab's seed appended
    disk: Path | None = None     # per-lab qcow2 overlay (disk-form backends)
    iso: Path | None = None      # bootable ISO (Bochs)
    rawdisk: Path | None = None  # the image's raw ext4 disk, attached read-only (Bochs: overlay root)
    seed_port: int | None = None  # host port forwarded to a restored guest's seed port (Bochs)
    restore: Path | None = None  # a saved-state folder to restore instead of booting (Bochs)


@dataclass(frozen=True)
class BootPlan:
    argv: list[str]
    files: dict[Path, str] = field(default_factory=dict)   # config files to write before starting
    env: dict[str, str] = field(default_factory=dict)      # added to the emulator's environment
    console_log: Path | None = None


class Backend(ABC):
    name: ClassVar[str]
    image_form: ClassVar[str]          # "initramfs" or "disk": which image form it boots
    guest_has_vmx: ClassVar[bool]      # can Dune run in its guests?
    # What a guest TSC tick is: "emulated" (an emulator's tick, never comparable with hardware cycles)
    # or "hardware". It also picks a scenario's params profile (fewer iterations when emulated).
    clock: ClassVar[str]

    @abstractmethod
    def check_host(self, info: HostInfo) -> None:
        """Raise HostError naming what is missing."""

    def prepare_host(self) -> None:
        """Before a boot: make what the backend builds for itself on the host (Bochs: the emulator)."""
        return None

    @abstractmethod
    def plan(self, spec: LabSpec, media: BootMedia, ssh_port: int, state_dir: Path) -> BootPlan:
        """The emulator command line and config files for one boot (pure: writes nothing)."""

    def cmdline(self, spec: LabSpec, extra: str = "") -> str:
        return " ".join(p for p in (BASE_CMDLINE, extra, spec.kernel_cmdline) if p)
