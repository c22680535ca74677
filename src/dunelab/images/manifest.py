"""manifest.json: what an image entry contains and how it was made (for humans and backends)."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

from .. import __version__
from .recipe import Recipe


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(out: Path, *, recipe: Recipe, key: str, rootfs: Path, rootfs_facts: dict,
                   artifacts: dict[str, Path], initramfs: dict, timings: dict, direct: dict | None = None) -> dict:
    pkgs = rootfs_facts["packages"]
    m = {
        "name": recipe.name,
        "key": key,
        "recipe_file": str(recipe.path),
        "recipe": recipe.data,
        "kernel_release": rootfs_facts["kernel_release"],
        "artifacts": {name: {"file": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)}
                      for name, p in artifacts.items()},
        "rootfs": {"path": str(rootfs), "key": rootfs_facts.get("key"),
                   "mirrors": rootfs_facts.get("mirrors", {}),
                   # one digest over the package list: compares two rootfs trees at a glance
                   "packages_sha256": hashlib.sha256(json.dumps(pkgs, sort_keys=True).encode()).hexdigest(),
                   "build_seconds": rootfs_facts.get("seconds")},
        "initramfs": initramfs,
        "direct": direct,          # directboot.build_direct: vmlinuz-direct's kernel entry and load range
        "packages": pkgs,
        "timings_seconds": timings,
        "built": {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node(),
                  "dunelab": __version__},
    }
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(m, indent=1, sort_keys=True) + "\n")
    tmp.replace(out)
    return m
