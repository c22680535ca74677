"""Initramfs helpers that need no root: symlink-faithful copies, module closure, ISO config."""

import os
from pathlib import Path

import pytest

from dunelab.errors import StepError
from dunelab.images.initramfs import copy_in, resolve_in, select_modules
from dunelab.images.iso import isolinux_cfg


@pytest.fixture
def rootfs(tmp_path):
    """A merged-/usr tree like Debian's: /lib -> usr/lib, absolute and relative symlinks."""
    r = tmp_path / "rootfs"
    (r / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (r / "usr/lib64").mkdir()
    (r / "usr/bin").mkdir()
    (r / "usr/sbin").mkdir()
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"), ("sbin", "usr/sbin")):
        (r / link).symlink_to(target)
    (r / "usr/lib/x86_64-linux-gnu/libc.so.6").write_text("libc")
    (r / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").write_text("ld")
    (r / "usr/lib64/ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (r / "usr/bin/kmod").write_text("kmod")
    (r / "usr/sbin/modprobe").symlink_to("/bin/kmod")         # absolute: must stay inside the rootfs
    return r


def test_copy_in_recreates_symlink_chain(rootfs, tmp_path):
    stage = tmp_path / "stage"
    (stage / "usr/lib").mkdir(parents=True)
    (stage / "usr/lib64").mkdir()
    copy_in(rootfs, stage, "/lib64/ld-linux-x86-64.so.2")
    assert os.readlink(stage / "lib64") == "usr/lib64"
    assert os.readlink(stage / "usr/lib64/ld-linux-x86-64.so.2") == "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert (stage / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").read_text() == "ld"
    assert os.readlink(stage / "lib") == "usr/lib"


def test_copy_in_missing_path(rootfs, tmp_path):
    with pytest.raises(StepError, match="does not exist in the rootfs"):
        copy_in(rootfs, tmp_path / "stage", "/usr/bin/nope")


def test_resolve_in_keeps_absolute_links_inside_rootfs(rootfs):
    assert resolve_in(rootfs, "/usr/sbin/modprobe") == "/usr/bin/kmod"
    assert resolve_in(rootfs, "/sbin/modprobe") == "/usr/bin/kmod"
    assert resolve_in(rootfs, "/lib64/ld-linux-x86-64.so.2") == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


def _moddir(tmp_path: Path) -> Path:
    d = tmp_path / "6.1.0-56-amd64"
    d.mkdir()
    (d / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n"
        "kernel/lib/crc16.ko:\nkernel/fs/mbcache.ko:\nkernel/fs/jbd2/jbd2.ko:\n"
        "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko\n"
        "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
        "kernel/net/core/failover.ko:\n"
        "kernel/drivers/char/hw_random/virtio-rng.ko:\n")
    (d / "modules.builtin").write_text("kernel/net/packet/af_packet.ko\n")
    return d


def test_select_modules_closure_aliases_and_builtins(tmp_path):
    files, builtin = select_modules(_moddir(tmp_path), ["ext4", "virtio_net", "virtio_rng", "af_packet"])
    assert files == sorted(["kernel/fs/ext4/ext4.ko", "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko",
                            "kernel/fs/jbd2/jbd2.ko", "kernel/drivers/net/virtio_net.ko",
                            "kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko",
                            "kernel/drivers/char/hw_random/virtio-rng.ko"])
    assert builtin == ["af_packet"]


def test_select_modules_unknown(tmp_path):
    with pytest.raises(StepError, match="e1001"):
        select_modules(_moddir(tmp_path), ["ext4", "e1001"])


def test_isolinux_cfg_boots_without_prompt():
    cfg = isolinux_cfg("console=ttyS0,115200 dunelab.root=/dev/vda")
    assert "PROMPT 0" in cfg and "TIMEOUT 0" in cfg
    assert "  APPEND console=ttyS0,115200 dunelab.root=/dev/vda\n" in cfg
    with pytest.raises(ValueError):
        isolinux_cfg("a\nb")
