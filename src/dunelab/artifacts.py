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
from dataclasses import dataclass, field
from pathlib import Path

from . import PROJECT_ROOT, paths
from .errors import StepError
from .progress import step

SOURCES = ("src/kmod", "src/libdune")
SCENARIO_SKIP_DIRS = {"build", ".fetched", "__pycache__", ".git"}
_SKIP_DIRS = {"build", ".git", "__pycache__"}
_SOURCE_SUFFIXES = {".c", ".h", ".S", ".in", ".conf", ".lds", ".sh"}
_SOURCE_NAMES = {"Makefile", "Kbuild", "dkms.conf"}


TEST_KINDS = ("guest", "hostile", "payload")   # src/libdune/build/tests/<kind>/ -> guest /root/dune-tests/<kind>/


@dataclass(frozen=True)
class Artifacts:
    dir: Path
    key: str
    kmod: Path                  # dune.ko built against the image's kernel headers
    libdune: Path               # install tree: include/dune/*.h, lib/libdune.{a,so}, lib/pkgconfig
    guest_tests: list[Path]     # programs that must print PASS and exit 0 in a Dune-capable guest
    hostile_tests: list[Path]   # programs that must end with a clear non-zero status, host unharmed
    payloads: list[Path]        # plain programs the guest tests load and run in ring 3 (not Dune programs)
    # scenario name -> its built programs (scenarios with `build: make`); a scenario whose build
    # failed is in build_errors instead, with the log's tail, and its rows fail with that reason
    scenario_programs: dict[str, list[Path]] = field(default_factory=dict)
    build_errors: dict[str, str] = field(default_factory=dict)


def _source_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.suffix in _SOURCE_SUFFIXES or name in _SOURCE_NAMES:
                files.append(p)
    return files


def _scenario_files(root: Path) -> list[Path]:
    """Every file of a scenario directory (sources, patches, scripts, data), build outputs excluded."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SCENARIO_SKIP_DIRS)
        files += [Path(dirpath) / n for n in sorted(filenames)]
    return files


def source_key(image_key: str, scenarios: list[Path] | None = None) -> str:
    h = hashlib.sha256(f"image {image_key}\n".encode())
    for rel in SOURCES:
        for f in _source_files(PROJECT_ROOT / rel):
            h.update(f"{f.relative_to(PROJECT_ROOT)}\n".encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    for d in sorted(scenarios or []):
        for f in _scenario_files(d):
            h.update(f"{f.relative_to(d.parent)}\n".encode())
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


def _build_scenario(rootfs: Path, work: Path, inside: Path, src: Path, out: Path, log: Path) -> None:
    """`make all` of one scenario in the image rootfs, against the staged libdune; a `fetch` script in
    the scenario runs first, on the host, to download what the chroot cannot (no network there)."""
    name = src.name
    shutil.copytree(src, work / "scenarios" / name, ignore=shutil.ignore_patterns(*SCENARIO_SKIP_DIRS))
    fetch = src / "fetch"
    if fetch.is_file() and os.access(fetch, os.X_OK):
        downloads = paths.home() / "cache" / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            f.write(f"$ {fetch} {work / 'scenarios' / name}\n")
            f.flush()
            r = subprocess.run([str(fetch), str(work / "scenarios" / name)], stdout=f, stderr=subprocess.STDOUT,
                               env={**os.environ, "DUNELAB_DOWNLOADS": str(downloads)}, cwd=src)
        if r.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise StepError("build", f"scenarios/{name}/fetch failed; log {log}:\n{tail}")
    _chroot_make(rootfs, ["-C", f"{inside}/scenarios/{name}", "all", f"O={inside}/scenario-out/{name}",
                          f"DUNE_PREFIX={inside}/stage/usr/local"], log)
    built = work / "scenario-out" / name
    out.mkdir(parents=True, exist_ok=True)
    if built.is_dir():
        for p in sorted(built.iterdir()):
            if p.is_file() and os.access(p, os.X_OK):
                shutil.copy2(p, out / p.name)


def build_artifacts(image, force: bool = False, scenarios: list[Path] | None = None) -> Artifacts:
    """Build (or reuse) dune.ko, libdune, its test programs and the `build: make` scenarios in
    `scenarios` (their directories) for `image` (a dunelab.images.Image)."""
    scenarios = sorted(scenarios or [])
    key = source_key(image.key, scenarios)
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
            shutil.copytree(work / "stage/usr/local", tmp_out / "libdune")
            for kind in TEST_KINDS:
                src = work / "src/libdune/build/tests" / kind
                if src.is_dir():
                    shutil.copytree(src, tmp_out / "tests" / kind)
            for d in scenarios:
                s.update(f"scenario {d.name}")
                slog = tmp_out / f"build-{d.name}.log"
                try:
                    _build_scenario(rootfs, work, inside, d, tmp_out / "scenarios" / d.name, slog)
                except StepError as e:
                    (tmp_out / "scenarios").mkdir(exist_ok=True)
                    (tmp_out / "scenarios" / f"{d.name}.failed").write_text(str(e) + "\n")
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

    scen_dir = out / "scenarios"
    built: dict[str, list[Path]] = {}
    errors: dict[str, str] = {}
    if scen_dir.is_dir():
        for p in sorted(scen_dir.iterdir()):
            if p.is_dir():
                built[p.name] = sorted(x for x in p.iterdir() if x.is_file() and os.access(x, os.X_OK))
            elif p.suffix == ".failed":
                errors[p.stem] = p.read_text().strip()
    return Artifacts(dir=out, key=key, kmod=out / "dune.ko", libdune=out / "libdune",
                     guest_tests=programs("guest"), hostile_tests=programs("hostile"),
                     payloads=programs("payload"), scenario_programs=built, build_errors=errors)
