"""What this host can do: CPU vendor and flags, /dev/kvm and the module behind it, nested VMX, emulators.

Every probe reads files under `root` (default "/") so tests can feed it a fake /proc and /sys.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

KVM_MODULES = ("kvm_intel", "kvm_amd", "kvm_pvm")


@dataclass(frozen=True)
class HostInfo:
    cpu_vendor: str                      # GenuineIntel, AuthenticAMD, ...
    cpu_flags: frozenset[str]
    kvm_device: bool                     # /dev/kvm exists
    kvm_module: str | None               # which of KVM_MODULES is loaded
    kvm_intel_nested: bool               # kvm_intel's `nested` parameter is on
    tools: dict[str, str | None] = field(default_factory=dict)  # tool -> path or None

    @property
    def nested_vmx_usable(self) -> bool:
        """QEMU with -accel kvm -cpu host gives the guest VMX only through kvm_intel with nested on."""
        return self.kvm_device and self.kvm_module == "kvm_intel" and self.kvm_intel_nested


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _cpu(root: Path) -> tuple[str, frozenset[str]]:
    vendor, flags = "unknown", frozenset()
    for line in _read(root / "proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and vendor == "unknown":
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return vendor, flags


TOOLS = ("qemu-system-x86_64", "qemu-img", "bochs", "debootstrap", "mkfs.ext4", "xorriso", "cpio", "ssh")


def built_bochs() -> str | None:
    """dunelab's own Bochs build (backends/bochs_build.py), not whatever `bochs` is on PATH."""
    from .backends import bochs_build

    p = bochs_build.built()
    return str(p) if p else None


def probe(root: Path | str = "/", which=shutil.which, bochs=built_bochs) -> HostInfo:
    root = Path(root)
    vendor, flags = _cpu(root)
    module = next((m for m in KVM_MODULES if (root / "sys/module" / m).is_dir()), None)
    nested = _read(root / "sys/module/kvm_intel/parameters/nested").strip() in ("Y", "1")
    tools = {t: bochs() if t == "bochs" else which(t) for t in TOOLS}
    return HostInfo(
        cpu_vendor=vendor, cpu_flags=flags, kvm_device=(root / "dev/kvm").exists(), kvm_module=module,
        kvm_intel_nested=nested, tools=tools,
    )


def choose_backend(requested: str, info: HostInfo) -> tuple[str, str]:
    """Resolve `auto`; returns (backend, why) — the reason is shown by `doctor` and `up`."""
    if requested != "auto":
        return requested, f"the lab asks for {requested}"
    if info.nested_vmx_usable:
        return "qemu-kvm", "/dev/kvm is kvm_intel with nested VMX on: hardware VT-x for the guest"
    if not info.kvm_device:
        why = "no /dev/kvm"
    elif info.kvm_module != "kvm_intel":
        why = f"/dev/kvm is provided by {info.kvm_module or 'an unknown module'}, not kvm_intel"
    else:
        why = "kvm_intel's nested VMX is off (modprobe kvm_intel nested=1)"
    return "bochs", f"{why}: Bochs emulates VMX with EPT in software"


def tool_version(tool: str, path: str | None = None) -> str | None:
    """First meaningful line of `tool --version` (Bochs prints its banner on --help instead)."""
    path = path or shutil.which(tool)
    if not path:
        return None
    args = [path, "--help"] if tool == "bochs" else [path, "--version"]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "present (version unknown)"
    for line in (out.stdout + out.stderr).splitlines():
        line = line.strip()
        if tool == "bochs" and "Bochs x86 Emulator" in line:
            return line
        if tool != "bochs" and line:
            return line
    return "present"
