"""The values build_image hands to the backends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Image:
    name: str
    key: str
    dir: Path
    kernel: Path          # vmlinuz of kernel_release
    initrd: Path          # our initramfs (newc cpio, compressed); append a seed with boot_initrd()
    disk: Path            # qcow2 base image (ext4, no partition table) - use it through an overlay
    rootfs: Path          # the debootstrap tree; chroot into it to build against its headers
    kernel_release: str   # e.g. "6.1.0-56-amd64"
    manifest: Path
    rawdisk: Path | None = None   # the disk form's ext4 as a sparse raw image (Bochs); None in old entries
    # the kernel without its decompressor, for Bochs (directboot.py); None in old entries
    kernel_direct: Path | None = None

    @classmethod
    def from_manifest(cls, manifest: Path) -> Image:
        m = json.loads(manifest.read_text())
        d = manifest.parent
        art = m["artifacts"]

        def opt(name: str) -> Path | None:
            return d / art[name]["file"] if name in art else None

        return cls(name=m["name"], key=m["key"], dir=d, kernel=d / art["kernel"]["file"],
                   initrd=d / art["initrd"]["file"], disk=d / art["disk"]["file"],
                   rootfs=Path(m["rootfs"]["path"]), kernel_release=m["kernel_release"],
                   manifest=manifest, rawdisk=opt("rawdisk"), kernel_direct=opt("kernel_direct"))


@dataclass(frozen=True)
class BuildResult:
    image: Image
    rebuilt: bool
    message: str
