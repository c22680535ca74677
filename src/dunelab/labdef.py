"""Lab definitions (labs/*.yaml): which backend, how big a VM, which image, ports and timeouts.

A malformed file is rejected here, before anything starts, with file, field and reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import PROJECT_ROOT
from .errors import ConfigError
from .schema import Field, validate_file

BACKENDS = ("auto", "bochs", "qemu-kvm", "qemu-tcg")
# What runs libdune's guest: dune.ko (VT-x only), or the guest kernel's own KVM (kvm_intel or kvm_amd, loaded by
# the rig) through libdune's KVM back end: every Dune row then runs with DUNE_BACKEND=kvm.
DUNE_BACKENDS = ("dune", "kvm")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _name_ok(v: str) -> str | None:
    return None if _NAME_RE.match(v) else "must be 1-40 of a-z, 0-9, '-', '_' (it names a directory)"


def _cmdline_ok(v: str) -> str | None:
    return "must be a single line" if "\n" in v else None


LAB_SCHEMA = {
    "name": Field(str, required=True, check=_name_ok, doc="lab name; state lives in $DUNELAB_HOME/labs/NAME"),
    "backend": Field(str, default="auto", choices=BACKENDS),
    "image": Field(str, default="images/bookworm.yaml", doc="image recipe, relative to the checkout"),
    "cpus": Field(int, default=1, minimum=1, maximum=8),
    "memory_mb": Field(int, default=1024, minimum=256, maximum=16384),
    "kernel_cmdline": Field(str, default="", check=_cmdline_ok, doc="appended to dunelab's own arguments"),
    "dune_backend": Field(str, default="dune", choices=DUNE_BACKENDS,
                          doc="dune: load dune.ko; kvm: load the guest's kvm_intel/kvm_amd and run Dune rows "
                              "with DUNE_BACKEND=kvm"),
    "ssh": Field(dict, fields={
        "port": Field(int, default=0, minimum=0, maximum=65535,
                      doc="host port forwarded to guest :22; 0 picks a free one"),
        "user": Field(str, default="root"),
    }),
    "timeouts": Field(dict, fields={
        "boot": Field(int, default=900, minimum=5, doc="seconds from VM start to SSH answering"),
        "command": Field(int, default=1800, minimum=1, doc="default limit for one guest command"),
        "shutdown": Field(int, default=30, minimum=1),
    }),
    "bochs": Field(dict, fields={
        "cpu_model": Field(str, default="corei7_skylake_x"),
        "ips": Field(int, default=120_000_000, minimum=1_000_000,
                     doc="emulated instructions per second: guest time is instructions / ips, and "
                         "sync=slowdown never lets the guest run faster than that"),
        # see README "How a Bochs lab starts"
        "boot": Field(str, default="restore", choices=("restore", "direct", "iso"),
                      doc="restore: a saved state of the image's first (direct) boot, made by the first `up`; "
                          "direct: isolinux loads a kernel with no decompressor; iso: the distribution's "
                          "compressed kernel from a CD-ROM"),
    }),
    "qemu": Field(dict, fields={
        "extra_args": Field(list, default=[], items=Field(str)),
    }),
}


@dataclass(frozen=True)
class LabSpec:
    name: str
    backend: str
    image: Path
    cpus: int
    memory_mb: int
    kernel_cmdline: str
    ssh_port: int
    ssh_user: str
    boot_timeout: int
    command_timeout: int
    shutdown_timeout: int
    bochs_cpu_model: str
    bochs_ips: int
    bochs_boot: str
    qemu_extra_args: tuple[str, ...]
    source: Path
    dune_backend: str = "dune"


def resolve_lab_path(lab: str | Path) -> Path:
    """`default` means labs/default.yaml; anything with a slash or .yaml suffix is a path."""
    s = str(lab)
    if "/" in s or s.endswith((".yaml", ".yml")):
        return Path(s)
    return PROJECT_ROOT / "labs" / f"{s}.yaml"


def load_lab(lab: str | Path) -> LabSpec:
    path = resolve_lab_path(lab)
    d = validate_file(path, LAB_SCHEMA)
    image = Path(d["image"])
    if not image.is_absolute():
        image = PROJECT_ROOT / image
    if not image.is_file():
        raise ConfigError(path, "image", f"recipe {d['image']} does not exist")
    return LabSpec(
        name=d["name"], backend=d["backend"], image=image, cpus=d["cpus"], memory_mb=d["memory_mb"],
        kernel_cmdline=d["kernel_cmdline"], ssh_port=d["ssh"]["port"], ssh_user=d["ssh"]["user"],
        boot_timeout=d["timeouts"]["boot"], command_timeout=d["timeouts"]["command"],
        shutdown_timeout=d["timeouts"]["shutdown"], bochs_cpu_model=d["bochs"]["cpu_model"],
        bochs_ips=d["bochs"]["ips"], bochs_boot=d["bochs"]["boot"],
        qemu_extra_args=tuple(d["qemu"]["extra_args"]), source=path, dune_backend=d["dune_backend"],
    )
