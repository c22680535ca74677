"""Image form 2: the whole rootfs as an ext4 filesystem: a zstd-compressed qcow2 (QEMU) and the
same filesystem as a sparse raw image (Bochs reads no qcow2; it mounts it read-only under an overlay).

No partition table: the init mounts /dev/vda directly (the kernel comes from outside, via -kernel
or the ISO), and mkfs.ext4 -d fills the filesystem from a directory without loop devices.
The disk's own tweaks (systemd units, sshd config) are applied to a copy of the rootfs, so the
cached rootfs stays exactly what debootstrap + apt made.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import StepError
from ..progress import StepHandle
from .cache import GUEST_DIR
from .chroot import chroot_argv, safe_rmtree
from .recipe import Recipe, size_bytes
from .run import run_logged

STEP = "disk image"

# Timers that would wake up in the middle of a measurement and touch the disk or the network, and
# lighttpd's own service (installed for scenarios/sandbox, which starts the server itself).
_DISABLE = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
            "e2scrub_reap.service", "lighttpd.service")
_ENABLE = ("systemd-networkd.service", "ssh.service", "serial-getty@ttyS0.service",
           "dunelab-ready.service")


def _install(src: str, dest: Path, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(GUEST_DIR / src, dest)
    dest.chmod(mode)


def customize(recipe: Recipe, tree: Path, log: Path, image_key: str = "") -> None:
    """The disk form's configuration on top of the rootfs."""
    label = recipe.data["disk"]["label"]
    (tree / "etc/fstab").write_text(f"# dunelab disk form (no partition table)\n"
                                    f"LABEL={label} / ext4 rw,relatime,errors=remount-ro 0 0\n")
    _install("sshd_config", tree / "etc/ssh/sshd_config")
    _install("10-dunelab.network", tree / "etc/systemd/network/10-dunelab.network")
    _install("dunelab-ready.service", tree / "etc/systemd/system/dunelab-ready.service")
    _install("dunelab-ready", tree / "usr/local/sbin/dunelab-ready", 0o755)
    (tree / "usr/lib/dunelab").mkdir(parents=True, exist_ok=True)
    (tree / "usr/lib/dunelab/image-key").write_text(image_key + "\n")
    resolv = tree / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    resolv.write_text("nameserver 10.0.2.3\n")     # QEMU user networking's DNS forwarder
    for f in tree.glob("etc/ssh/ssh_host_*"):      # host keys come from the seed, never the image
        f.unlink()
    run_logged(chroot_argv(tree, "systemctl", "enable", *_ENABLE), log, STEP)
    run_logged(chroot_argv(tree, "systemctl", "disable", *_DISABLE), log, STEP, check=False)
    # Host keys: Debian generates them only in openssh-server's postinst (removed above and in
    # the rootfs stage), never at boot, so the seed's key is the only one sshd ever sees.


def build_disk(recipe: Recipe, rootfs: Path, out: Path, work: Path, log: Path,
               handle: StepHandle, raw: Path | None = None, image_key: str = "") -> dict:
    """Write the qcow2 to `out`; with `raw`, keep the raw filesystem image there too (sparse)."""
    tree = work / "disk-tree"
    keep_raw = raw is not None
    raw = raw or work / "disk.raw"
    try:
        handle.update(detail="copying the rootfs")
        run_logged(["cp", "-a", "--reflink=auto", f"{rootfs}/.", f"{tree}/"], log, STEP)
        handle.update(detail="configuring systemd, sshd, networkd")
        customize(recipe, tree, log, image_key)
        handle.update(detail=f"mkfs.ext4 -d ({recipe.data['disk']['size']})")
        with open(raw, "wb") as f:
            f.truncate(size_bytes(recipe.data["disk"]["size"]))
        run_logged(["mkfs.ext4", "-q", "-F", "-L", recipe.data["disk"]["label"], "-d", str(tree),
                    "-E", "root_owner=0:0", str(raw)], log, STEP)
        handle.update(detail="qemu-img convert -c (zstd)")
        run_logged(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c",
                    "-o", "compression_type=zstd", str(raw), str(out)], log, STEP)
    finally:
        safe_rmtree(tree)
        if raw.exists() and not keep_raw:
            raw.unlink()
    if not out.is_file():
        raise StepError(STEP, f"qemu-img produced no {out.name} (log: {log})")
    return {"size": recipe.data["disk"]["size"], "label": recipe.data["disk"]["label"],
            "qcow2_bytes": os.path.getsize(out)}
