"""DKMS: src/kmod/dkms.conf builds dune.ko for the guest's kernel the Debian way (dkms add + build),
inside the image's own rootfs. Needs the built image and root, so it runs with the lab tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dunelab import PROJECT_ROOT
from dunelab.images import build_image, load_recipe

pytestmark = pytest.mark.vm


def chroot(rootfs: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["chroot", str(rootfs), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", *cmd],
                          capture_output=True, text=True, check=check, timeout=900)


def test_dkms_builds_dune_for_the_guest_kernel():
    image = build_image(load_recipe(PROJECT_ROOT / "images/bookworm.yaml")).image
    conf = (PROJECT_ROOT / "src/kmod/dkms.conf").read_text()
    version = re.search(r'^PACKAGE_VERSION="([^"]+)"', conf, re.M).group(1)
    rootfs = Path(image.rootfs)
    src = rootfs / "usr/src" / f"dune-{version}"
    # dkms keeps its own tree in /var/lib/dkms; `dkms remove` cannot always clean it in a chroot
    # without /proc, and a leftover makes the next `dkms add` fail: this test owns both.
    tree = rootfs / "var/lib/dkms/dune"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(PROJECT_ROOT / "src/kmod", src, ignore=shutil.ignore_patterns(
        "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "Module.symvers", "modules.order", "check_abi"))
    try:
        chroot(rootfs, "dkms", "remove", "-m", "dune", "-v", version, "--all", check=False)
        chroot(rootfs, "dkms", "add", "-m", "dune", "-v", version)
        build = chroot(rootfs, "dkms", "build", "-m", "dune", "-v", version, "-k", image.kernel_release,
                       check=False)
        assert build.returncode == 0, build.stdout + build.stderr
        built = list((rootfs / "var/lib/dkms/dune" / version / image.kernel_release).rglob("dune.ko*"))
        assert built, "dkms build produced no dune.ko"
        inside = "/" + str(built[0].relative_to(rootfs))
        vermagic = chroot(rootfs, "modinfo", "-F", "vermagic", inside).stdout.split()
        assert vermagic[0] == image.kernel_release
    finally:
        chroot(rootfs, "dkms", "remove", "-m", "dune", "-v", version, "--all", check=False)
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(tree, ignore_errors=True)
