"""Dune's build artifacts for one guest image: dune.ko, libdune and its in-guest test programs.

Nothing is compiled inside a guest (Bochs runs CPU work ~200x slower). Instead the host chroots into
the image's own rootfs and builds there, so the kernel headers, gcc and glibc are exactly the
guest's: the module's vermagic matches its kernel and the programs find their libraries. Results are
cached by the image key and the content of the sources.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import PROJECT_ROOT, paths
from .errors import StepError
from .progress import step

SOURCES = ("src/kmod", "src/libdune")
_SKIP_DIRS = {"build", ".git", "__pycache__"}
_SOURCE_SUFFIXES = {".c", ".h", ".S", ".in", ".conf", ".lds", ".sh", ".rules", ".sysusers"}
_SOURCE_NAMES = {"Makefile", "Kbuild", "dkms.conf"}


TEST_KINDS = ("guest", "hostile", "payload")   # src/libdune/build/tests/<kind>/ -> guest /root/dune-tests/<kind>/


@dataclass(frozen=True)
class Artifacts:
    dir: Path
    key: str
    kmod: Path                  # dune.ko built against the image's kernel headers
    udev: Path                  # src/kmod/udev: the rule and group that grant /dev/dune, and install.sh
    libdune: Path               # install tree: include/dune/*.h, lib/libdune.{a,so}, lib/pkgconfig
    guest_tests: list[Path]     # programs that must print PASS and exit 0 in a Dune-capable guest
    hostile_tests: list[Path]   # programs that must end with a clear non-zero status, host unharmed
    payloads: list[Path]        # plain programs the guest tests load and run in ring 3 (not Dune programs)


def _source_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.suffix in _SOURCE_SUFFIXES or name in _SOURCE_NAMES:
                files.append(p)
    return files


def source_key(image_key: str) -> str:
    h = hashlib.sha256(f"image {image_key}\n".encode())
    for rel in SOURCES:
        for f in _source_files(PROJECT_ROOT / rel):
            h.update(f"{f.relative_to(PROJECT_ROOT)}\n".encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _chroot_make(rootfs: Path, args: list[str], log: Path) -> None:
    cmd = ["chroot", str(rootfs), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
           "LANG=C.UTF-8", "make", *args]
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise StepError("build", f"`make {' '.join(args)}` failed in the image rootfs; log {log}:\n{tail}")


def build_artifacts(image, force: bool = False) -> Artifacts:
    """Build (or reuse) dune.ko, libdune and its test programs for `image` (a dunelab.images.Image)."""
    key = source_key(image.key)
    out = paths.home() / "build" / f"{image.name}-{key[:16]}"
    if (out / ".complete").exists() and not force:
        return _collect(out, key)
    rootfs = Path(image.rootfs)
    tag = f"dunelab-build-{uuid.uuid4().hex[:12]}"
    work = rootfs / "tmp" / tag      # seen as /tmp/<tag> inside the chroot
    tmp_out = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp_out, ignore_errors=True)
    tmp_out.mkdir(parents=True)
    log = tmp_out / "build.log"
    try:
        with step("building dune.ko, libdune and guest tests in the image rootfs", total=3) as s:
            for rel in SOURCES:
                shutil.copytree(PROJECT_ROOT / rel, work / rel, ignore=shutil.ignore_patterns(
                    "build", "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "Module.symvers", "modules.order"))
            inside = Path("/tmp") / tag
            s.update("dune.ko", advance=0)
            # -Werror: the module must build without a single warning against the guest's headers.
            _chroot_make(rootfs, ["-C", f"/usr/src/linux-headers-{image.kernel_release}",
                                  f"M={inside}/src/kmod", "KCFLAGS=-Werror", "modules"], log)
            s.update("libdune", advance=1)
            _chroot_make(rootfs, ["-C", f"{inside}/src/libdune", "all"], log)
            _chroot_make(rootfs, ["-C", f"{inside}/src/libdune", "install", "PREFIX=/usr/local",
                                  f"DESTDIR={inside}/stage"], log)
            s.update("guest tests", advance=1)
            _chroot_make(rootfs, ["-C", f"{inside}/src/libdune", "tests"], log)
            shutil.copy2(work / "src/kmod/dune.ko", tmp_out / "dune.ko")
            shutil.copytree(work / "src/kmod/udev", tmp_out / "udev")
            shutil.copytree(work / "stage/usr/local", tmp_out / "libdune")
            for kind in TEST_KINDS:
                src = work / "src/libdune/build/tests" / kind
                if src.is_dir():
                    shutil.copytree(src, tmp_out / "tests" / kind)
            s.update("done", advance=1)
        (tmp_out / ".complete").write_text(key + "\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp_out, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _collect(out, key)


def _collect(out: Path, key: str) -> Artifacts:
    def programs(kind: str) -> list[Path]:
        d = out / "tests" / kind
        return sorted(p for p in d.iterdir() if p.is_file() and os.access(p, os.X_OK)) if d.is_dir() else []

    return Artifacts(dir=out, key=key, kmod=out / "dune.ko", udev=out / "udev", libdune=out / "libdune",
                     guest_tests=programs("guest"), hostile_tests=programs("hostile"),
                     payloads=programs("payload"))
