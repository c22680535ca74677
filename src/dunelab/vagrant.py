"""Vagrant with the libvirt provider: which driver the project's Vagrantfile uses on this host, adding
our box, and what libvirt holds (so tests and nightly can prove `vagrant destroy` left nothing).

The Vagrantfile asks `dunelab vagrant settings --json` once per vagrant command, so the decision lives
here, in one place, next to the lab backends' (hostinfo.choose_backend), and is unit-tested:

  kvm_intel with nested VMX   driver kvm, cpu_mode host-passthrough, nested: the guest has VT-x and
                              runs Dune; its clock is hardware;
  anything else               driver qemu (TCG), cpu_mode host-model (libvirt refuses host-passthrough
                              without KVM): no VMX in the guest, Dune rows are skipped with that reason;
                              its TSC ticks are emulated.
DUNELAB_VAGRANT_DRIVER=kvm|qemu overrides the choice (e.g. kvm on an AMD host, for fast Linux rows).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from . import PROJECT_ROOT
from .errors import DunelabError, HostError
from .hostinfo import HostInfo

DRIVERS = ("kvm", "qemu")
LIBVIRT_URI = "qemu:///system"


@dataclass(frozen=True)
class LibvirtSettings:
    box: str
    driver: str             # libvirt domain type: kvm or qemu (TCG)
    cpu_mode: str           # host-passthrough (kvm) or host-model (qemu)
    nested: bool            # expose VMX to the guest
    guest_vmx: bool
    clock: str              # emulated | hardware: what a guest TSC tick is
    why: str
    cpus: int
    memory_mb: int
    dunelab: str            # this checkout's dunelab command, for the provisioner
    recipe: str             # the image recipe the box was built from (artifacts: image)

    def to_json(self) -> dict:
        return asdict(self)


def choose_driver(host: HostInfo, override: str | None = None) -> tuple[str, str, bool, str]:
    """(driver, cpu_mode, nested, why) for a vagrant-libvirt guest on `host`."""
    if override:
        if override not in DRIVERS:
            raise DunelabError(f"DUNELAB_VAGRANT_DRIVER={override!r}: must be one of {', '.join(DRIVERS)}")
        if override == "kvm":
            if not host.kvm_device:
                raise HostError("DUNELAB_VAGRANT_DRIVER=kvm, but this host has no /dev/kvm")
            nested = host.nested_vmx_usable
            return "kvm", "host-passthrough", nested, "DUNELAB_VAGRANT_DRIVER=kvm" + (
                "" if nested else f" ({host.kvm_module or 'unknown KVM'}: no VMX for the guest)")
        return "qemu", "host-model", False, "DUNELAB_VAGRANT_DRIVER=qemu: TCG, no VMX for the guest"
    if host.cpu_vendor == "GenuineIntel" and host.nested_vmx_usable:
        return "kvm", "host-passthrough", True, "kvm_intel with nested VMX: hardware VT-x for the guest"
    if not host.kvm_device:
        why = "no /dev/kvm"
    elif host.kvm_module != "kvm_intel":
        why = f"/dev/kvm is {host.kvm_module or 'an unknown module'}'s, not kvm_intel's"
    else:
        why = "kvm_intel's nested VMX is off"
    return "qemu", "host-model", False, f"{why}: TCG (driver qemu, cpu host-model), no VMX for the guest"


def settings(host: HostInfo, env: Mapping[str, str] | None = None, recipe: Path | None = None) -> LibvirtSettings:
    from .box import box_name
    from .images import load_recipe

    env = os.environ if env is None else env
    recipe = recipe or PROJECT_ROOT / "images" / "bookworm.yaml"
    driver, cpu_mode, nested, why = choose_driver(host, env.get("DUNELAB_VAGRANT_DRIVER") or None)

    def number(key: str, default: int, lo: int, hi: int) -> int:
        raw = env.get(key)
        if not raw:
            return default
        if not raw.isdigit() or not lo <= int(raw) <= hi:
            raise DunelabError(f"{key}={raw!r}: must be a whole number from {lo} to {hi}")
        return int(raw)

    return LibvirtSettings(
        box=box_name(load_recipe(recipe).name), driver=driver, cpu_mode=cpu_mode, nested=nested, guest_vmx=nested,
        clock="hardware" if driver == "kvm" else "emulated", why=why,
        cpus=number("DUNELAB_VAGRANT_CPUS", 2, 1, 64), memory_mb=number("DUNELAB_VAGRANT_MEMORY", 1024, 512, 65536),
        dunelab=str(PROJECT_ROOT / ".venv" / "bin" / "dunelab"),
        recipe=str(recipe.relative_to(PROJECT_ROOT) if recipe.is_relative_to(PROJECT_ROOT) else recipe))


# ---------------------------------------------------------------------------- the vagrant command
def _vagrant(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    if not shutil.which("vagrant"):
        raise HostError("vagrant is not installed (scripts/vagrant-host sets this host up)")
    r = subprocess.run(["vagrant", *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env={**os.environ, "VAGRANT_NO_COLOR": "1"})
    if check and r.returncode != 0:
        err = (r.stderr or r.stdout).strip().splitlines()
        raise DunelabError(f"vagrant {' '.join(args[:3])} failed: {err[-1] if err else r.returncode}")
    return r


def box_versions(name: str) -> list[str]:
    """Versions of box `name` (libvirt provider) that vagrant has."""
    out = _vagrant("box", "list", "--machine-readable").stdout
    # machine-readable: TIME,TARGET,TYPE,DATA; box-name, box-provider, box-version come in triples
    rows = [line.split(",", 3) for line in out.splitlines() if line.count(",") >= 3]
    found, cur = [], {}
    for _, _, kind, data in rows:
        if kind == "box-name":
            cur = {"name": data}
        elif kind == "box-provider":
            cur["provider"] = data
        elif kind == "box-version":
            cur["version"] = data
            if cur.get("name") == name and cur.get("provider") == "libvirt":
                found.append(data)
    return found


def add_box(box) -> str:
    """`vagrant box add` the box's catalog, unless vagrant already has that version."""
    if box.version in box_versions(box.name):
        return f"vagrant already has box {box.name} {box.version}"
    _vagrant("box", "add", "--provider", "libvirt", str(box.catalog), timeout=1800)
    return f"added box {box.name} {box.version} to vagrant"


def box_volume(name: str, version: str) -> str:
    """The name vagrant-libvirt gives a box version's copy in the storage pool."""
    return f"{name.replace('/', '-VAGRANTSLASH-')}_vagrant_box_image_{version}_box.img"


def prune_boxes(name: str, keep: str, pool: str = "default") -> list[str]:
    """Remove the other versions of box `name` from vagrant, and their copies from the storage pool
    unless a volume still uses one as its backing file (a machine made from it). Returns what went."""
    gone = []
    backing = set()
    for p in _virsh("pool-list", "--all", "--name"):
        for v in _virsh("vol-list", p):
            xml = "\n".join(_virsh("vol-dumpxml", "--pool", p, v.split()[0]))
            backing |= set(re.findall(r"<backingStore>\s*<path>([^<]+)</path>", xml))
    for version in box_versions(name):
        if version == keep:
            continue
        r = _vagrant("box", "remove", name, "--provider", "libvirt", "--box-version", version, check=False)
        if r.returncode != 0:
            continue                  # in use by a machine: vagrant says so, and we keep it
        gone.append(f"box {name} {version}")
        vol = box_volume(name, version)
        path = next((line.split(None, 1)[1] for line in _virsh("vol-list", pool) if line.split()[0] == vol), None)
        if path and path.strip() not in backing and _virsh_ok("vol-delete", "--pool", pool, vol):
            gone.append(f"volume {pool}/{vol}")
    return gone


def _virsh_ok(*args: str) -> bool:
    return shutil.which("virsh") is not None and subprocess.run(
        ["virsh", "-q", "-c", LIBVIRT_URI, *args], capture_output=True, timeout=120, stdin=subprocess.DEVNULL
    ).returncode == 0


# ---------------------------------------------------------------------------- what libvirt holds
def _virsh(*args: str) -> list[str]:
    if not shutil.which("virsh"):
        return []
    r = subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()] if r.returncode == 0 else []


def libvirt_inventory() -> dict[str, list[str]]:
    """Names of every domain, network and storage volume libvirt has (volumes as POOL/NAME)."""
    volumes = []
    for pool in _virsh("pool-list", "--all", "--name"):
        volumes += [f"{pool}/{v.split()[0]}" for v in _virsh("vol-list", pool)]
    return {"domains": _virsh("list", "--all", "--name"), "networks": _virsh("net-list", "--all", "--name"),
            "volumes": volumes}


def is_box_volume(volume: str) -> bool:
    """vagrant-libvirt's copy of a box in the storage pool: shared by every machine of that box and kept
    after `vagrant destroy` on purpose (like vagrant's own box cache); `vagrant box remove` does not
    delete it either, `virsh vol-delete` does."""
    return "_vagrant_box_image_" in volume


def dump(obj) -> str:
    return json.dumps(obj.to_json() if hasattr(obj, "to_json") else obj, indent=1)
