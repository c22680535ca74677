"""build_image: rootfs stage (cached on its own key) then the two image forms (initramfs, disk)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ..errors import HostError
from ..progress import step
from . import cache, directboot, disk, initramfs, manifest
from .chroot import safe_rmtree
from .image import BuildResult, Image
from .mirrors import Source, debian_sources, mirror_for
from .recipe import Recipe
from .rootfs import build_rootfs

# Host programs a build runs -> the Debian package providing each (for errors and setup scripts).
HOST_TOOLS = {"debootstrap": "debootstrap", "chroot": "coreutils", "mount": "mount",
              "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils", "depmod": "kmod",
              "gcc": "gcc", "objcopy": "binutils"}     # gcc, objcopy: vmlinuz-direct's hook
COMPRESSORS = {"zstd": "zstd", "xz": "xz-utils", "gzip": "gzip"}


def resolve_sources(recipe: Recipe) -> dict[str, Source]:
    d = recipe.data["distribution"]
    found = debian_sources()
    return {s: mirror_for(s, found) for s in [d["suite"], *d["extra_suites"]]}


def check_host(recipe: Recipe) -> None:
    if os.geteuid() != 0:
        raise HostError("building an image needs root (debootstrap, chroot, device nodes in the "
                        "rootfs); run as root or with sudo")
    tools = dict(HOST_TOOLS)
    comp = recipe.data["initramfs"]["compression"]
    if comp in COMPRESSORS:
        tools[comp] = COMPRESSORS[comp]
    missing = [f"{t} (package {p})" for t, p in tools.items() if not shutil.which(t)]
    if missing:
        raise HostError(f"image build needs {', '.join(missing)}: apt-get install them")


def _complete(entry: Path, marker: str) -> bool:
    return (entry / marker).is_file()


def _short(key: str) -> str:
    return key[:12] + "…"


def ensure_rootfs(recipe: Recipe, sources: dict[str, Source], force: bool = False) -> tuple[Path, dict]:
    """The cached rootfs entry for this recipe, building it if needed (call with the lock held)."""
    mirrors = {s: src.uri for s, src in sources.items()}
    key = cache.rootfs_key(recipe, mirrors)
    final = cache.entry_dir(f"rootfs-{recipe.suite}", key)
    if not force and _complete(final, "rootfs.json"):
        return final, json.loads((final / "rootfs.json").read_text())
    tmp = cache.temp_dir_for(final)
    log = _fresh_log(final)
    t = time.monotonic()
    try:
        with step(f"rootfs {recipe.suite} + linux {recipe.kernel_abi}") as h:
            facts = build_rootfs(recipe, sources, tmp, log, h)
    except BaseException:
        safe_rmtree(tmp)
        raise
    facts["key"] = key
    facts["seconds"] = round(time.monotonic() - t, 1)
    (tmp / "rootfs.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    cache.publish(tmp, final)
    os.replace(log, final / "build.log")
    return final, facts


def _fresh_log(final: Path) -> Path:
    """The build log lives next to the entry, not in its temp dir, so the path named in an error
    message stays valid after a failure; a successful build moves it into the entry."""
    log = final.parent / f"{final.name}.log"
    log.unlink(missing_ok=True)
    return log


def build_image(recipe: Recipe, force: bool = False) -> BuildResult:
    sources = resolve_sources(recipe)
    mirrors = {s: src.uri for s, src in sources.items()}
    key = cache.image_key(recipe, mirrors)
    final = cache.entry_dir(recipe.name, key)
    if not force and _complete(final, "manifest.json"):
        _point_latest(final, recipe.name)
        return BuildResult(Image.from_manifest(final / "manifest.json"), False,
                           f"image {recipe.name} is up to date (key {_short(key)})")
    check_host(recipe)
    t0 = time.monotonic()
    with cache.locked():
        # Someone else may have finished the same build while we waited for the lock.
        if not force and _complete(final, "manifest.json"):
            return BuildResult(Image.from_manifest(final / "manifest.json"), False,
                               f"image {recipe.name} is up to date (key {_short(key)})")
        cache.clean_stale_temps()
        t_root = time.monotonic()
        rootfs_entry, facts = ensure_rootfs(recipe, sources, force)
        rootfs_secs = time.monotonic() - t_root
        rootfs = rootfs_entry / "rootfs"
        tmp = cache.temp_dir_for(final)
        log = _fresh_log(final)
        timings = {"rootfs": round(rootfs_secs, 1)}
        try:
            abi = recipe.kernel_abi
            shutil.copyfile(rootfs / f"boot/vmlinuz-{abi}", tmp / "vmlinuz")
            with step(f"vmlinuz-direct for {recipe.name} (Bochs boots it without the decompressor)"):
                t = time.monotonic()
                direct_info = directboot.build_direct(tmp / "vmlinuz", tmp / "vmlinuz-direct", tmp)
                timings["direct"] = round(time.monotonic() - t, 1)
            with step(f"initramfs for {recipe.name}") as h:
                t = time.monotonic()
                initrd_info = initramfs.build_initramfs(recipe, rootfs, tmp / "initrd.img", tmp, log, h, key)
                timings["initramfs"] = round(time.monotonic() - t, 1)
            with step(f"disk image for {recipe.name} ({recipe.data['disk']['size']})") as h:
                t = time.monotonic()
                disk.build_disk(recipe, rootfs, tmp / "disk.qcow2", tmp, log, h, raw=tmp / "disk.img", image_key=key)
                timings["disk"] = round(time.monotonic() - t, 1)
            manifest.write_manifest(tmp / "manifest.json", recipe=recipe, key=key, rootfs=rootfs,
                                    rootfs_facts=facts, artifacts={"kernel": tmp / "vmlinuz",
                                    "initrd": tmp / "initrd.img", "disk": tmp / "disk.qcow2",
                                    "rawdisk": tmp / "disk.img", "kernel_direct": tmp / "vmlinuz-direct"},
                                    initramfs=initrd_info, timings=timings, direct=direct_info)
        except BaseException:
            safe_rmtree(tmp)
            raise
        cache.publish(tmp, final)
        os.replace(log, final / "build.log")
        _point_latest(final, recipe.name)
    secs = time.monotonic() - t0
    return BuildResult(Image.from_manifest(final / "manifest.json"), True,
                       f"built image {recipe.name} (key {_short(key)}) in {secs:.0f}s")


def _point_latest(final: Path, name: str) -> None:
    """cache/images/<name> -> the entry last built or used, for humans (atomic symlink swap)."""
    link = final.parent / name
    tmp = final.parent / f".tmp-link-{name}-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(final.name)
        os.replace(tmp, link)
    except OSError:
        pass                       # e.g. a read-only cache used by another user: cosmetic only
