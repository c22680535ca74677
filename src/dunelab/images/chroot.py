"""Working inside a rootfs tree: /proc mounted only while needed, no daemons started, and
never a recursive delete while anything is still mounted below it."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ..errors import StepError

# Package maintainer scripts must not start services inside the build chroot.
_POLICY_RC_D = "#!/bin/sh\n# dunelab build: never start services in the chroot\nexit 101\n"


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (the order to unmount them)."""
    root = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == root or mp.startswith(root + "/"):
                found.append(Path(mp))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_all_under(path: Path) -> None:
    for mp in mounts_under(path):
        subprocess.run(["umount", "-l", str(mp)], check=False)
    left = mounts_under(path)
    if left:
        raise StepError("image build", f"cannot unmount {left[0]}; not deleting {path}")


def safe_rmtree(path: Path) -> None:
    """rm -rf that first makes sure no host filesystem (/proc, a bind mount) is reachable below."""
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    unmount_all_under(path)
    shutil.rmtree(path)


@contextlib.contextmanager
def prepared(rootfs: Path) -> Iterator[Path]:
    """Mount /proc and block service starts for the duration of package installs."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text(_POLICY_RC_D)
    policy.chmod(0o755)
    proc = rootfs / "proc"
    proc.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        yield rootfs
    finally:
        unmount_all_under(rootfs)
        policy.unlink(missing_ok=True)


def chroot_argv(rootfs: Path, *argv: str) -> list[str]:
    # A clean, predictable environment: the host's PATH/locale must not leak into the guest.
    return ["chroot", str(rootfs), "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root", "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "INITRD=No", *argv]
