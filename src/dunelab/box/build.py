"""`dunelab image box`: the image's disk form, made bootable and Vagrant-ready, packed as a libvirt box.

Steps (each logged to the entry's build.log):
  1. the image's disk.qcow2 -> raw ext4 (the very filesystem the QEMU labs boot);
  2. mounted with fuse2fs (no loop devices, no kernel state left behind if we die), chroot into it
     and run files/customize.sh: sudo from the image's own APT sources, the vagrant user with
     Vagrant's insecure key, first-boot SSH host keys, DHCP client id = MAC;
  3. e2fsck, then grow the filesystem to fill partition 2;
  4. a FAT boot partition built as a file: syslinux installed by its mtools-based installer, the
     image's kernel and dunelab's initramfs, syslinux.cfg;
  5. a raw disk: MBR (syslinux's mbr.bin + partition table) and both partitions copied in,
     holes kept; then qcow2 (zstd-compressed clusters);
  6. metadata.json + Vagrantfile + info.json + box.img in a tar: the .box; a catalog JSON next to it.

Entries live in $DUNELAB_HOME/cache/boxes/<image>-<key16>/, keyed by the image key and this
package's files, and are published atomically like image entries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import __version__, paths
from ..errors import HostError, StepError
from ..images import Image
from ..images import cache as image_cache
from ..images.chroot import chroot_argv, safe_rmtree, unmount_all_under
from ..images.manifest import sha256_file
from ..images.run import run_logged
from ..progress import step
from . import layout

FILES = Path(__file__).resolve().parent / "files"
MBR_BIN = Path("/usr/lib/syslinux/mbr/mbr.bin")
STEP = "box"
# program -> Debian package, for a clear error before anything starts
HOST_TOOLS = {"qemu-img": "qemu-utils", "fuse2fs": "fuse2fs", "e2fsck": "e2fsprogs", "resize2fs": "e2fsprogs",
              "mkfs.fat": "dosfstools", "syslinux": "syslinux", "mcopy": "mtools", "chroot": "coreutils"}


@dataclass(frozen=True)
class Box:
    name: str              # e.g. dunelab/bookworm
    version: str           # 0.YYYYMMDDHHMMSS
    dir: Path              # the cache entry
    box_file: Path         # the .box (tar)
    catalog: Path          # box.json for `vagrant box add`
    info: dict             # info.json: image, kernel, key, sizes, added packages

    @classmethod
    def from_dir(cls, d: Path) -> Box:
        info = json.loads((d / "info.json").read_text())
        return cls(info["name"], info["version"], d, d / info["box_file"], d / "box.json", info)


@dataclass(frozen=True)
class BoxResult:
    box: Box
    rebuilt: bool
    message: str


def box_name(image_name: str) -> str:
    """The box of image `image_name` in vagrant: dunelab/<image name>."""
    return f"dunelab/{image_name}"


def box_key(image: Image) -> str:
    """The image's key and everything in this package that shapes the box."""
    h = hashlib.sha256(f"dunelab-box-v1\0{image.key}\0".encode())
    here = Path(__file__).resolve().parent
    for f in sorted([*here.glob("*.py"), *FILES.iterdir()]):
        if f.is_file():
            data = f.read_bytes()
            h.update(f"{f.name}\0{len(data)}\0".encode() + data)
    return h.hexdigest()


def boxes_root() -> Path:
    return paths.home() / "cache" / "boxes"


def check_host() -> None:
    if os.geteuid() != 0:
        raise HostError("building a box needs root (chroot, FUSE mount of the image's filesystem)")
    missing = [f"{t} (package {p})" for t, p in HOST_TOOLS.items() if not shutil.which(t)]
    if not MBR_BIN.is_file():
        missing.append(f"{MBR_BIN} (package syslinux-common)")
    if not Path("/dev/fuse").exists():
        missing.append("/dev/fuse (the fuse kernel module)")
    if missing:
        raise HostError(f"`dunelab image box` needs {', '.join(missing)}: apt-get install them (scripts/bootstrap)")


def build_box(image: Image, force: bool = False) -> BoxResult:
    """The box of `image`, from the cache when its key matches (force: rebuild)."""
    key = box_key(image)
    final = boxes_root() / f"{image.name}-{key[:16]}"
    if not force and (final / "info.json").is_file():
        return BoxResult(Box.from_dir(final), False, f"box {box_name(image.name)} is up to date (key {key[:12]}…)")
    check_host()
    t0 = time.monotonic()
    with image_cache.locked(boxes_root()):
        if not force and (final / "info.json").is_file():
            return BoxResult(Box.from_dir(final), False, f"box {box_name(image.name)} is up to date (key {key[:12]}…)")
        for stale in boxes_root().glob(".tmp-*"):
            safe_rmtree(stale)
        tmp = image_cache.temp_dir_for(final)
        log = final.parent / f"{final.name}.log"
        log.unlink(missing_ok=True)
        try:
            _build(image, key, tmp, final, log)
        except BaseException:
            safe_rmtree(tmp)
            raise
        image_cache.publish(tmp, final)
        os.replace(log, final / "build.log")
    box = Box.from_dir(final)
    return BoxResult(box, True, f"built box {box.name} {box.version} ({box.info['box_bytes'] / 1e6:.0f} MB) "
                                f"from image {image.name} (key {image.key[:12]}…) in {time.monotonic() - t0:.0f}s")


def _build(image: Image, key: str, out: Path, final: Path, log: Path) -> None:
    """Build into `out` (a temp dir that becomes `final` once complete)."""
    built_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name, version = box_name(image.name), layout.version_of(built_at)
    work = out / "work"
    work.mkdir()
    root = work / "root.ext4"
    info = {"name": name, "version": version, "built": built_at, "dunelab": __version__, "key": key,
            "image": image.name, "image_key": image.key, "kernel_release": image.kernel_release,
            "box_file": f"{name.replace('/', '-')}-{version}.box"}
    with step(f"box {name} from image {image.name}", total=6) as s:
        s.update("the image's disk form as raw ext4")
        run_logged(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image.disk), str(root)], log, STEP)
        s.update("vagrant user, sudo, host keys (chroot on fuse2fs)", advance=1)
        info["added_packages"] = _customize(root, work, info, log)
        s.update("e2fsck, resize2fs", advance=1)
        lay = layout.layout(os.path.getsize(root))
        _check_fs(root, log)
        run_logged(["resize2fs", str(root), f"{lay.root_bytes // 1024}K"], log, STEP)
        s.update("boot partition: syslinux, kernel, initramfs", advance=1)
        boot = work / "boot.fat"
        _boot_partition(image, boot, lay, log)
        s.update("partitioned disk, qcow2", advance=1)
        raw = work / "disk.raw"
        _assemble(raw, lay, boot, root)
        img = work / "box.img"
        run_logged(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd",
                    str(raw), str(img)], log, STEP)
        raw.unlink()
        root.unlink()
        s.update("packing the .box", advance=1)
        info["virtual_size_gib"] = lay.virtual_size_gib
        info["disk_bytes"] = os.path.getsize(img)
        info["kernel_cmdline"] = layout.kernel_cmdline()
        box_file = out / info["box_file"]
        with tarfile.open(box_file, "w") as tar:
            for arcname, text in (("metadata.json", layout.to_json(layout.metadata(lay))),
                                  ("Vagrantfile", layout.BOX_VAGRANTFILE),
                                  ("info.json", layout.to_json({k: info[k] for k in (
                                      "name", "version", "built", "image", "image_key", "kernel_release",
                                      "dunelab")}))):
                _add_text(tar, arcname, text)
            tar.add(str(img), arcname="box.img")
        img.unlink()
        info["box_bytes"] = os.path.getsize(box_file)
        info["box_sha256"] = sha256_file(box_file)
        # The catalog names the entry's final path: the directory is renamed into place after this.
        (out / "box.json").write_text(layout.to_json(layout.catalog(
            name, version, (final / info["box_file"]).as_uri(), info["box_sha256"],
            f"dunelab image {image.name} (key {image.key[:12]}), kernel {image.kernel_release}")))
        s.update("done", advance=1)
    shutil.rmtree(work)
    (out / "info.json").write_text(layout.to_json(info))


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    import io

    data = text.encode()
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, int(time.time())
    tar.addfile(ti, io.BytesIO(data))


# ---------------------------------------------------------------------------- the filesystem
@contextlib.contextmanager
def fuse_mounted(fs_image: Path, mnt: Path, log: Path) -> Iterator[Path]:
    """fs_image mounted read-write at mnt by a fuse2fs we own (foreground), unmounted and waited for
    on the way out, so every write is in the file when this returns."""
    mnt.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as lf:
        lf.write(f"$ fuse2fs -f {fs_image} {mnt} -o rw,dev,suid\n")
        lf.flush()
        proc = subprocess.Popen(["fuse2fs", "-f", str(fs_image), str(mnt), "-o", "rw,dev,suid"],
                                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mnt):
            if proc.poll() is not None:
                raise StepError(STEP, f"fuse2fs exited with {proc.returncode} before mounting {fs_image} (log {log})")
            if time.monotonic() > deadline:
                raise StepError(STEP, f"fuse2fs did not mount {fs_image} within 30s (log {log})")
            time.sleep(0.05)
        yield mnt
    finally:
        unmount_all_under(mnt)
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise StepError(STEP, f"fuse2fs did not finish writing {fs_image} within 300s") from None
    if proc.returncode not in (0, None):
        raise StepError(STEP, f"fuse2fs exited with {proc.returncode} (log {log})")


def _customize(root_fs: Path, work: Path, info: dict, log: Path) -> dict[str, str]:
    mnt = work / "mnt"
    with fuse_mounted(root_fs, mnt, log):
        stage = mnt / "tmp/dunelab-box"
        shutil.rmtree(stage, ignore_errors=True)
        shutil.copytree(FILES, stage)
        (stage / "box.json").write_text(layout.to_json({k: info[k] for k in (
            "name", "version", "built", "image", "image_key", "kernel_release")}))
        resolv = mnt / "etc/resolv.conf"
        if resolv.is_symlink():
            raise StepError(STEP, "the image's /etc/resolv.conf is a symlink; expected the disk form's file")
        resolv.touch()
        since = int(time.time()) - 1         # fuse2fs reports times in whole seconds
        with _chroot_mounts(mnt, log):
            run_logged(chroot_argv(mnt, "sh", "/tmp/dunelab-box/customize.sh"), log, STEP)
        added = dict(line.split("\t", 1) for line in (stage / "added-packages").read_text().splitlines() if line)
        shutil.rmtree(stage)
        n = drop_minimal_acls(mnt, since)
        with open(log, "a") as f:
            f.write(f"removed the access ACL fuse2fs attached to {n} new files (their modes stand)\n")
    return added


ACL_XATTR = "system.posix_acl_access"
MINIMAL_ACL_BYTES = 4 + 3 * 8      # header + user::, group::, other:: entries


def drop_minimal_acls(root: Path, since: float) -> int:
    """fuse2fs (1.47) stores an access ACL with every file it creates, taken from the mode the file
    was created with (`install` creates 0600 and chmods later), and a later chmod does not update it:
    networkd could not read a 0644 file whose ACL still said 0600. An ACL of only the three base
    entries says nothing a mode cannot, so drop it from every file changed since `since`."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if st.st_ctime < since or stat.S_ISLNK(st.st_mode):
                continue
            try:
                acl = os.getxattr(p, ACL_XATTR, follow_symlinks=False)
            except OSError:
                continue
            if len(acl) == MINIMAL_ACL_BYTES:
                os.removexattr(p, ACL_XATTR, follow_symlinks=False)
                n += 1
    return n


@contextlib.contextmanager
def _chroot_mounts(mnt: Path, log: Path) -> Iterator[None]:
    """/proc, a tmpfs for APT's lists, the host's resolv.conf and a policy-rc.d that keeps services
    from starting, for the chroot; all gone again (the policy file first, then the mounts, deepest
    first) before the filesystem itself is unmounted."""
    policy = mnt / "usr/sbin/policy-rc.d"
    mounts: list[Path] = []
    try:
        for args, target in ((["-t", "proc", "proc"], mnt / "proc"),
                             (["-t", "tmpfs", "-o", "size=512m", "tmpfs"], mnt / "var/lib/apt/lists"),
                             (["--bind", "/etc/resolv.conf"], mnt / "etc/resolv.conf")):
            run_logged(["mount", *args, str(target)], log, STEP)
            mounts.append(target)
        policy.write_text("#!/bin/sh\n# dunelab image box: no services start in the build chroot\nexit 101\n")
        policy.chmod(0o755)
        yield
    finally:
        policy.unlink(missing_ok=True)
        for target in reversed(mounts):
            unmount_all_under(target)


def _check_fs(fs: Path, log: Path) -> None:
    # -p: fix what is safe to fix; 0 = clean, 1 = fixed. Anything else means the image is damaged.
    rc = run_logged(["e2fsck", "-f", "-p", str(fs)], log, STEP, check=False)
    if rc not in (0, 1):
        raise StepError(STEP, f"e2fsck found errors it could not fix in the box's filesystem ({rc}); log {log}")


def _boot_partition(image: Image, out: Path, lay: layout.DiskLayout, log: Path) -> None:
    cfg = out.with_name("syslinux.cfg")
    cfg.write_text(layout.syslinux_cfg(layout.kernel_cmdline()))
    # -h: hidden sectors = where the partition starts, which syslinux's boot sector adds to its own reads
    run_logged(["mkfs.fat", "-C", "-F", "32", "-h", str(lay.boot_start), "-n", "DUNELAB", str(out),
                str(lay.boot_sectors * layout.SECTOR // 1024)], log, STEP)
    run_logged(["syslinux", "--install", str(out)], log, STEP)
    for src, dst in ((image.kernel, "vmlinuz"), (image.initrd, "initrd.img"), (cfg, "syslinux.cfg")):
        run_logged(["mcopy", "-o", "-i", str(out), str(src), f"::{dst}"], log, STEP)


def _assemble(raw: Path, lay: layout.DiskLayout, boot: Path, root: Path) -> None:
    with open(raw, "wb") as f:
        f.truncate(lay.total_bytes)
        f.write(layout.mbr(MBR_BIN.read_bytes(), lay, random.getrandbits(32)))
    copy_sparse(boot, raw, lay.boot_start * layout.SECTOR, lay.boot_sectors * layout.SECTOR)
    copy_sparse(root, raw, lay.root_start * layout.SECTOR, lay.root_bytes)


def copy_sparse(src: Path, dst: Path, offset: int, limit: int) -> int:
    """Copy the data extents of `src` into `dst` at `offset`, skipping holes; returns bytes copied."""
    size = os.path.getsize(src)
    if size > limit:
        raise StepError(STEP, f"{src.name} is {size} bytes, its partition only {limit}")
    copied = 0
    with open(src, "rb") as fi, open(dst, "r+b") as fo:
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
            except OSError:        # ENXIO: only a hole is left
                break
            hole = os.lseek(fi.fileno(), data, os.SEEK_HOLE)
            n = hole - data
            while n > 0:
                done = os.copy_file_range(fi.fileno(), fo.fileno(), n, data, offset + data)
                if done <= 0:
                    raise StepError(STEP, f"short copy of {src.name} at {data}")
                data += done
                n -= done
                copied += done
            pos = hole
    return copied
