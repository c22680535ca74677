"""What a vagrant-libvirt box of a dunelab image looks like, as pure functions (no I/O, unit-tested).

The image's disk form is an ext4 filesystem without a partition table, booted with -kernel/-initrd.
libvirt boots a box from its disk through the BIOS, so the box's disk is:

    sector 0              MBR: syslinux's mbr.bin + a DOS partition table
    1 MiB   partition 1   FAT, active: syslinux, the image's kernel and initramfs, syslinux.cfg
    65 MiB  partition 2   the image's ext4 (with the box's vagrant user), grown to the end of the disk

The disk's size is rounded up to whole GiB, because a box's metadata.json states it in GiB. The
initramfs is dunelab's own (the image's): `dunelab.root=/dev/vda2` makes it mount partition 2 and
switch to systemd, as the QEMU backends' disk form does with /dev/vda.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

SECTOR = 512
MIB = 1 << 20
GIB = 1 << 30
BOOT_START = MIB // SECTOR            # 2048: partitions aligned on 1 MiB
BOOT_BYTES = 64 * MIB                 # kernel (~8 MB) + initramfs (~8 MB) + syslinux, with room to spare
FAT_LBA = 0x0C                        # W95 FAT32 (LBA)
LINUX = 0x83
ROOT_DEVICE = "/dev/vda2"             # the box's Vagrantfile pins disk_bus = virtio


@dataclass(frozen=True)
class DiskLayout:
    total_bytes: int
    boot_start: int                   # sectors
    boot_sectors: int
    root_start: int
    root_sectors: int

    @property
    def root_bytes(self) -> int:
        return self.root_sectors * SECTOR

    @property
    def virtual_size_gib(self) -> int:
        return self.total_bytes // GIB


def layout(root_fs_bytes: int) -> DiskLayout:
    """The disk for a root filesystem of `root_fs_bytes` (it is grown to fill partition 2)."""
    if root_fs_bytes <= 0:
        raise ValueError("the root filesystem has no size")
    root_start = BOOT_START + BOOT_BYTES // SECTOR
    need = root_start * SECTOR + root_fs_bytes
    total = -(-need // GIB) * GIB
    return DiskLayout(total, BOOT_START, BOOT_BYTES // SECTOR, root_start, total // SECTOR - root_start)


def _chs(lba: int) -> bytes:
    """CHS address of `lba` in the 255-head, 63-sector geometry; beyond cylinder 1023 the customary max."""
    heads, sectors = 255, 63
    c, rem = divmod(lba, heads * sectors)
    if c > 1023:
        return bytes((0xFE, 0xFF, 0xFF))
    h, s = divmod(rem, sectors)
    s += 1
    return bytes((h, ((c >> 2) & 0xC0) | s, c & 0xFF))


def mbr(boot_code: bytes, lay: DiskLayout, disk_id: int) -> bytes:
    """Sector 0: boot code (up to 440 bytes, e.g. syslinux's mbr.bin), disk signature, two partitions
    (FAT, active; Linux), 0x55AA."""
    if len(boot_code) > 440:
        raise ValueError(f"MBR boot code is {len(boot_code)} bytes; at most 440 fit")
    out = bytearray(SECTOR)
    out[:len(boot_code)] = boot_code
    struct.pack_into("<I", out, 440, disk_id)
    entries = [(0x80, FAT_LBA, lay.boot_start, lay.boot_sectors), (0x00, LINUX, lay.root_start, lay.root_sectors)]
    for i, (status, ptype, start, count) in enumerate(entries):
        off = 446 + 16 * i
        out[off] = status
        out[off + 1:off + 4] = _chs(start)
        out[off + 4] = ptype
        out[off + 5:off + 8] = _chs(start + count - 1)
        struct.pack_into("<II", out, off + 8, start, count)
    out[510:512] = b"\x55\xaa"
    return bytes(out)


def parse_partitions(sector0: bytes) -> list[tuple[bool, int, int, int]]:
    """(active, type, start, sectors) of each used entry of an MBR partition table."""
    if sector0[510:512] != b"\x55\xaa":
        raise ValueError("no MBR signature")
    out = []
    for i in range(4):
        off = 446 + 16 * i
        start, count = struct.unpack_from("<II", sector0, off + 8)
        if sector0[off + 4]:
            out.append((sector0[off] == 0x80, sector0[off + 4], start, count))
    return out


def kernel_cmdline() -> str:
    # console=ttyS0 last: /dev/console is the serial port, which the Vagrantfile logs to a file.
    # net.ifnames=0: the NIC is eth0, as Vagrant's own boxes have it.
    return f"console=tty0 console=ttyS0,115200 dunelab.root={ROOT_DEVICE} net.ifnames=0"


def syslinux_cfg(cmdline: str) -> str:
    return ("# dunelab box: boot the image's kernel with dunelab's initramfs, no menu, no wait\n"
            "SERIAL 0 115200\nDEFAULT dunelab\nPROMPT 0\nTIMEOUT 0\n"
            f"LABEL dunelab\n  LINUX /vmlinuz\n  INITRD /initrd.img\n  APPEND {cmdline}\n")


def metadata(lay: DiskLayout) -> dict:
    """metadata.json of a vagrant-libvirt box."""
    return {"provider": "libvirt", "format": "qcow2", "virtual_size": lay.virtual_size_gib}


BOX_VAGRANTFILE = """\
# Defaults that come with the dunelab box (built by `dunelab image box`); a project's Vagrantfile
# overrides them. The box's kernel command line names /dev/vda2, so the disk stays on virtio.
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
    lv.nic_model_type = "virtio"
    lv.memory = 1024
  end
end
"""


def catalog(name: str, version: str, box_url: str, sha256: str, description: str) -> dict:
    """A Vagrant box catalog (what `vagrant box add FILE.json` reads): one version, one libvirt provider.
    A catalog, not a bare .box, so every build gets its own version (and vagrant-libvirt its own base
    volume in the storage pool, instead of silently keeping an older image under the same name)."""
    return {"name": name, "description": description,
            "versions": [{"version": version, "providers": [
                {"name": "libvirt", "url": box_url, "checksum_type": "sha256", "checksum": sha256}]}]}


def version_of(built_at_utc: str) -> str:
    """Box version from the build time (ISO 8601 UTC): 0.YYYYMMDDHHMMSS, increasing with every build."""
    digits = "".join(ch for ch in built_at_utc if ch.isdigit())[:14]
    if len(digits) != 14:
        raise ValueError(f"not an ISO 8601 time: {built_at_utc!r}")
    return f"0.{digits}"


def to_json(d: dict) -> str:
    return json.dumps(d, indent=1, sort_keys=True) + "\n"
