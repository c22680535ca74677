"""Image recipes (images/*.yaml): what goes into a guest. Validated before anything runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..schema import Field, validate_file

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PKG = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_ABI = re.compile(r"^\d+\.\d+\.\d+-\d+-[a-z0-9-]+$")
_MODULE = re.compile(r"^[A-Za-z0-9_-]+$")
_SIZE = re.compile(r"^(\d+)([MG])$")
_IPV4_CIDR = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def _regex(rx: re.Pattern, what: str):
    return lambda v: None if rx.match(v) else f"{v!r} is not {what}"


def _all(rx: re.Pattern, what: str):
    def check(values: list[str]) -> str | None:
        for v in values:
            if not rx.match(v):
                return f"{v!r} is not {what}"
        if len(set(values)) != len(values):
            return "lists an entry twice"
        return None
    return check


def _abs_paths(values: list[str]) -> str | None:
    bad = [v for v in values if not v.startswith("/") or ".." in v.split("/")]
    return f"{bad[0]!r} must be an absolute path inside the rootfs" if bad else None


SCHEMA: dict[str, Field] = {
    "name": Field(str, required=True, check=_regex(_NAME, "a lowercase image name"),
                  doc="image name; cache entries and messages use it"),
    "arch": Field(str, default="amd64", choices=("amd64",)),
    "distribution": Field(dict, required=True, fields={
        "suite": Field(str, required=True, doc="Debian suite debootstrap installs, e.g. bookworm"),
        "extra_suites": Field(list, default=[], items=Field(str),
                              doc="suites added to the guest's APT config (updates, security)"),
        "components": Field(list, default=["main"], items=Field(str), check=_all(_PKG, "a component")),
        "variant": Field(str, default="minbase", choices=("minbase", "buildd", "standard")),
    }),
    "kernel_abi": Field(str, required=True, check=_regex(_ABI, "a kernel ABI like 6.1.0-56-amd64"),
                        doc="linux-image-<abi> and linux-headers-<abi> are installed, nothing else"),
    "packages": Field(list, default=[], items=Field(str), check=_all(_PKG, "a Debian package name")),
    "initramfs": Field(dict, fields={
        "compression": Field(str, default="zstd", choices=("zstd", "gzip", "xz", "none")),
        "level": Field(int, default=19, minimum=1, maximum=19),
        "modules": Field(list, default=[], items=Field(str), check=_all(_MODULE, "a module name"),
                         doc="kernel modules copied with their dependencies (modprobe works for them)"),
        "load": Field(list, default=[], items=Field(str), check=_all(_MODULE, "a module name"),
                      doc="modules the init loads at boot, in order (each must be in modules)"),
        "binaries": Field(list, default=[], items=Field(str), check=_abs_paths,
                          doc="rootfs programs copied with the shared libraries they need"),
        "files": Field(list, default=[], items=Field(str), check=_abs_paths,
                       doc="other rootfs files or directories copied as they are"),
        "address": Field(str, default="10.0.2.15/24", check=_regex(_IPV4_CIDR, "an IPv4 address/prefix")),
        "gateway": Field(str, default="10.0.2.2", check=_regex(_IPV4, "an IPv4 address")),
    }),
    "disk": Field(dict, fields={
        "size": Field(str, default="6G", check=_regex(_SIZE, "a size like 4096M or 6G")),
        "label": Field(str, default="dunelab-root", check=lambda v: None if 0 < len(v) <= 16 else
                       "must be 1-16 characters (ext4 label)"),
    }),
}


@dataclass(frozen=True)
class Recipe:
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def suite(self) -> str:
        return self.data["distribution"]["suite"]

    @property
    def kernel_abi(self) -> str:
        return self.data["kernel_abi"]

    def section(self, *keys: str) -> dict[str, Any]:
        return {k: self.data[k] for k in keys}

    def normalized(self, *keys: str) -> str:
        """Canonical JSON of the validated recipe (or some top-level keys): comments, key order
        and omitted defaults do not change it, so they do not change the cache key."""
        return json.dumps(self.section(*keys) if keys else self.data, sort_keys=True, separators=(",", ":"))


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; every problem is a ConfigError naming file, field and reason."""
    p = Path(path)
    data = validate_file(p, SCHEMA)
    for i, s in enumerate(data["distribution"]["extra_suites"]):
        if not s.startswith(data["distribution"]["suite"] + "-"):
            raise ConfigError(p, f"distribution.extra_suites[{i}]",
                              f"{s!r} is not a suite of {data['distribution']['suite']} "
                              f"(expected {data['distribution']['suite']}-updates or -security)")
    mods = data["initramfs"]["modules"]
    for i, m in enumerate(data["initramfs"]["load"]):
        if m not in mods:
            raise ConfigError(p, f"initramfs.load[{i}]", f"{m!r} is not listed in initramfs.modules")
    disk = data["disk"]["size"]
    num, unit = _SIZE.match(disk).groups()
    if int(num) * (1024 if unit == "G" else 1) < 1024:
        raise ConfigError(p, "disk.size", f"{disk} is too small for the rootfs (at least 1G)")
    return Recipe(p.resolve(), data)


def size_bytes(size: str) -> int:
    num, unit = _SIZE.match(size).groups()
    return int(num) * (1 << (30 if unit == "G" else 20))
