"""The box's disk, boot configuration and metadata (pure), and the builder's file helpers."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time

import pytest

from dunelab.box import layout
from dunelab.box.build import ACL_XATTR, FILES, copy_sparse, drop_minimal_acls, fuse_mounted

GIB, MIB = 1 << 30, 1 << 20


def test_layout_rounds_the_disk_up_to_whole_gib_and_grows_the_root():
    lay = layout.layout(6 * GIB)
    assert lay.boot_start == 2048 and lay.boot_sectors == 64 * MIB // 512
    assert lay.root_start == lay.boot_start + lay.boot_sectors          # partitions back to back
    assert lay.total_bytes == 7 * GIB and lay.virtual_size_gib == 7
    assert (lay.root_start + lay.root_sectors) * 512 == lay.total_bytes  # partition 2 ends at the disk's end
    assert lay.root_bytes >= 6 * GIB and lay.root_bytes % 4096 == 0     # ext4 blocks fit exactly
    assert layout.layout(1).total_bytes == GIB
    with pytest.raises(ValueError):
        layout.layout(0)


def test_mbr_round_trip_and_boot_code():
    lay = layout.layout(6 * GIB)
    code = bytes(range(256)) + bytes(184)                                # 440 bytes
    sector = layout.mbr(code, lay, 0xDEADBEEF)
    assert len(sector) == 512 and sector[:440] == code and sector[510:] == b"\x55\xaa"
    assert struct.unpack_from("<I", sector, 440)[0] == 0xDEADBEEF
    parts = layout.parse_partitions(sector)
    assert parts == [(True, 0x0C, lay.boot_start, lay.boot_sectors), (False, 0x83, lay.root_start, lay.root_sectors)]
    with pytest.raises(ValueError, match="at most 440"):
        layout.mbr(bytes(441), lay, 1)
    with pytest.raises(ValueError, match="no MBR signature"):
        layout.parse_partitions(bytes(512))


@pytest.mark.parametrize(("lba", "chs"), [(0, (0, 1, 0)), (2048, (32, 33, 0)), (16450560, (0xFE, 0xFF, 0xFF))])
def test_chs_addresses(lba, chs):
    assert tuple(layout._chs(lba)) == chs


def test_boot_configuration_boots_the_image_kernel_from_partition_2():
    cmd = layout.kernel_cmdline()
    assert "dunelab.root=/dev/vda2" in cmd and "net.ifnames=0" in cmd and "console=ttyS0,115200" in cmd
    cfg = layout.syslinux_cfg(cmd)
    assert "LINUX /vmlinuz" in cfg and "INITRD /initrd.img" in cfg and f"APPEND {cmd}" in cfg
    assert "PROMPT 0" in cfg and "TIMEOUT 0" in cfg
    assert 'disk_bus = "virtio"' in layout.BOX_VAGRANTFILE                # what /dev/vda2 relies on


def test_metadata_and_catalog():
    lay = layout.layout(6 * GIB)
    assert layout.metadata(lay) == {"provider": "libvirt", "format": "qcow2", "virtual_size": 7}
    v = layout.version_of("2026-11-29T06:54:51Z")
    assert v == "0.20261129065451"
    assert layout.version_of("2026-11-29T06:54:52Z") > v                # later builds sort later (same length)
    cat = layout.catalog("dunelab/bookworm", v, "file:///x.box", "ab" * 32, "d")
    prov = cat["versions"][0]["providers"][0]
    assert cat["name"] == "dunelab/bookworm" and cat["versions"][0]["version"] == v
    assert prov == {"name": "libvirt", "url": "file:///x.box", "checksum_type": "sha256", "checksum": "ab" * 32}
    assert json.loads(layout.to_json(cat)) == cat
    with pytest.raises(ValueError):
        layout.version_of("yesterday")


def test_copy_sparse_keeps_holes_and_places_data_at_the_offset(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as f:
        f.truncate(64 * MIB)
        f.seek(8 * MIB)
        f.write(b"A" * 4096)
        f.seek(60 * MIB)
        f.write(b"B" * 4096)
    with open(dst, "wb") as f:
        f.truncate(128 * MIB)
    copied = copy_sparse(src, dst, 32 * MIB, 64 * MIB)
    assert copied < 4 * MIB                                             # the holes were not read as data
    with open(dst, "rb") as f:
        f.seek(32 * MIB + 8 * MIB)
        assert f.read(4096) == b"A" * 4096
        f.seek(32 * MIB + 60 * MIB)
        assert f.read(4096) == b"B" * 4096
    assert os.stat(dst).st_blocks * 512 < 8 * MIB                       # dst stays sparse
    from dunelab.errors import StepError

    with pytest.raises(StepError, match="partition only"):
        copy_sparse(src, dst, 0, MIB)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("fuse2fs") or not os.path.exists("/dev/fuse"),
                    reason="needs root, fuse2fs and /dev/fuse")
def test_fuse2fs_acls_are_dropped_and_modes_stand(tmp_path):
    """The fuse2fs bug the builder works around, for real: `install -m 0644` through fuse2fs leaves an
    ACL that still says 0600 (the guest's networkd could not read such a file); drop_minimal_acls
    removes it and the mode stands."""
    fs, mnt, log = tmp_path / "fs.ext4", tmp_path / "mnt", tmp_path / "log"
    subprocess.run(["mkfs.ext4", "-q", "-F", str(fs), "8M"], check=True)
    src = tmp_path / "conf"
    src.write_text("[DHCPv4]\n")
    with fuse_mounted(fs, mnt, log):
        (mnt / "old").write_text("x")
        time.sleep(1.1)                      # fuse2fs reports whole seconds
        since = int(time.time())
        subprocess.run(["install", "-m", "0644", str(src), str(mnt / "new")], check=True)
        assert oct(os.stat(mnt / "new").st_mode & 0o777) == "0o644"
        had = ACL_XATTR in os.listxattr(mnt / "new")
        dropped = drop_minimal_acls(mnt, since)
    assert had, "fuse2fs no longer attaches ACLs: drop_minimal_acls may go"
    assert dropped == 1
    with fuse_mounted(fs, mnt, log):        # what the kernel will see when the guest boots
        assert ACL_XATTR not in os.listxattr(mnt / "new")
        assert oct(os.stat(mnt / "new").st_mode & 0o777) == "0o644"
        assert (mnt / "new").read_text() == "[DHCPv4]\n"


def test_box_files_are_complete():
    """customize.sh installs every file it names from the box's files directory."""
    script = (FILES / "customize.sh").read_text()
    for name in ("vagrant-insecure.pub", "dunelab-box-hostkeys.service", "dhcp-client-id.conf",
                 "dunelab-box-resolv", "dunelab-box-resolv.service"):
        assert f"$B/{name}" in script and (FILES / name).is_file()
    assert (FILES / "vagrant-insecure.pub").read_text().startswith("ssh-rsa ") and "NOPASSWD: ALL" in script
