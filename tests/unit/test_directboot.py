"""Bochs direct boot without an emulator: a synthetic bzImage (setup header + XZ payload of a tiny
ELF64) is laid out, its setup header filled in as a boot loader must, and the stubs assembled."""

from __future__ import annotations

import lzma
import shutil
import struct

import pytest

from dunelab.images import directboot as db

BASE = 0x1000000


def elf64(entry: int, segments: list[tuple[int, bytes, int]]) -> bytes:
    """An ELF64 executable with one PT_LOAD per (paddr, data, memsz)."""
    phoff, phsz = 64, 56
    data_off = phoff + phsz * len(segments)
    head = bytearray(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
    head += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, phoff, 0, 0, 64, phsz, len(segments), 64, 0, 0)
    body = b""
    for paddr, data, memsz in segments:
        head += struct.pack("<IIQQQQQQ", 1, 7, data_off + len(body), 0xFFFFFFFF80000000 + paddr, paddr,
                            len(data), memsz, 0x1000)
        body += data
    return bytes(head) + body


def bzimage(payload: bytes, version: int = 0x20F, xloadflags: int = 0x7F, init_size: int = 0x400000) -> bytes:
    setup_sects = 3
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = 0x01 | 0x02 | 0x20                      # LOADED_HIGH, KASLR, QUIET as shipped
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)       # initrd_addr_max
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<I", setup, 0x238, 2047)             # cmdline_size
    struct.pack_into("<II", setup, 0x248, 0x40, len(payload))
    struct.pack_into("<Q", setup, 0x258, BASE)             # pref_address
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + b"\x90" * 0x40 + payload


def xz_payload(elf: bytes) -> bytes:
    # as the kernel's build appends it: the XZ stream, then the uncompressed size (le32)
    return lzma.compress(elf, format=lzma.FORMAT_XZ) + struct.pack("<I", len(elf))


TEXT = b"\xcc" * 0x2000
DATA = b"\x11" * 0x100 + b"\0" * 0x30000 + b"\x22" * 0x10    # a zero run in the file: a hole in kernel.ram
ELF = elf64(BASE, [(BASE, TEXT, len(TEXT)), (BASE + 0x200000, DATA, len(DATA) + 0x5000)])


def test_kernel_ram_places_segments_at_their_physical_addresses(tmp_path):
    bz = db.BzImage.parse(bzimage(xz_payload(ELF)))
    out = tmp_path / "kernel.ram"
    layout = db.write_kernel_ram(bz, out)
    assert (layout.entry, layout.base, layout.end) == (BASE, BASE, BASE + 0x200000 + len(DATA) + 0x5000)
    ram = out.read_bytes()
    assert len(ram) == layout.end - BASE                   # .bss up to memsz: zeros the kernel expects
    assert ram[:len(TEXT)] == TEXT
    assert ram[0x200000:0x200000 + len(DATA)] == DATA
    assert not any(ram[len(TEXT):0x200000])                # gaps between segments are zero
    assert out.stat().st_blocks * 512 < len(ram)           # ... and not stored


def test_gzip_payloads_work_too(tmp_path):
    import gzip
    bz = db.BzImage.parse(bzimage(gzip.compress(ELF) + struct.pack("<I", len(ELF))))
    assert db.write_kernel_ram(bz, tmp_path / "k").entry == BASE


@pytest.mark.parametrize("image, message", [
    (b"MZ" + b"\0" * 1000, "not a bzImage"),
    (bzimage(xz_payload(ELF), version=0x20B), "older than 2.12"),
    (bzimage(xz_payload(ELF), xloadflags=0), "no 64-bit entry"),
])
def test_unsupported_kernels_are_named(image, message):
    with pytest.raises(db.DirectBootError, match=message):
        db.BzImage.parse(image)


def test_bad_payloads_are_named(tmp_path):
    with pytest.raises(db.DirectBootError, match="unsupported kernel compression"):
        db.write_kernel_ram(db.BzImage.parse(bzimage(b"\x02\x21\x4c\x18" + b"\0" * 64)), tmp_path / "k")
    with pytest.raises(db.DirectBootError, match="truncated"):
        db.write_kernel_ram(db.BzImage.parse(bzimage(xz_payload(ELF)[:200])), tmp_path / "k")
    with pytest.raises(db.DirectBootError, match="init_size"):
        db.write_kernel_ram(db.BzImage.parse(bzimage(xz_payload(ELF), init_size=0x1000)), tmp_path / "k")


needs_gcc = pytest.mark.skipif(not shutil.which("gcc") or not shutil.which("objcopy"),
                               reason="gcc/objcopy missing (scripts/bootstrap installs them)")


@needs_gcc
def test_build_direct_artifacts(tmp_path):
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(bzimage(xz_payload(ELF)))
    info = db.build_direct(vmlinuz, tmp_path, tmp_path)
    assert info["entry"] == BASE and info["boot_protocol"] == "2.15"
    floppy = (tmp_path / "boot-floppy.img").read_bytes()
    assert len(floppy) == db.FLOPPY_BYTES and floppy[510:512] == b"\x55\xaa"
    assert b"dunelab-boot: direct kernel entry" in floppy[:512]
    hook = (tmp_path / "directboot-hook.bin").read_bytes()
    assert hook[0] == 0xFA and hook[db.HOOK_ENTRY_OFFSET:db.HOOK_ENTRY_OFFSET + 8] == b"\0" * 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boot-floppy.img", "directboot-hook.bin",
                                                          "kernel.ram", "vmlinuz"]    # no leftovers


@needs_gcc
def test_lowmem_fills_the_setup_header_like_a_boot_loader(tmp_path):
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(bzimage(xz_payload(ELF)))
    info = db.build_direct(vmlinuz, tmp_path, tmp_path)
    addr = db.initrd_address(info, 7 << 20, 1024)
    assert addr == 0x1400000 and addr % (2 << 20) == 0 and addr >= BASE + info["init_size"]
    block = db.lowmem(vmlinuz, tmp_path / "directboot-hook.bin", info, "console=ttyS0 nokaslr", addr, 7 << 20)
    assert len(block) == db.LOW_END - db.SETUP_ADDR
    hdr = block
    assert hdr[0x210] == 0xFF                                   # type_of_loader
    assert hdr[0x211] & 0x80 and not hdr[0x211] & 0x62 and hdr[0x211] & 0x01
    assert struct.unpack_from("<I", hdr, 0x214)[0] == db.HOOK_ADDR     # code32_start -> our hook
    assert struct.unpack_from("<II", hdr, 0x218) == (addr, 7 << 20)
    assert struct.unpack_from("<H", hdr, 0x224)[0] == 0xDE00            # heap_end_ptr
    assert struct.unpack_from("<I", hdr, 0x228)[0] == db.CMDLINE_ADDR
    line = block[db.CMDLINE_ADDR - db.SETUP_ADDR:]
    assert line[:22] == b"console=ttyS0 nokaslr\0"
    hook = db.HOOK_ADDR - db.SETUP_ADDR
    assert struct.unpack_from("<Q", block, hook + db.HOOK_ENTRY_OFFSET)[0] == BASE
    pt = db.PAGE_TABLES - db.SETUP_ADDR
    assert struct.unpack_from("<Q", block, pt)[0] == (db.PAGE_TABLES + 0x1000) | 3
    assert struct.unpack_from("<Q", block, pt + 0x1000 + 3 * 8)[0] == (db.PAGE_TABLES + 0x5000) | 3
    last_pd = struct.unpack_from("<Q", block, pt + 0x2000 + (4 * 512 - 1) * 8)[0]
    assert last_pd == ((4 << 30) - (2 << 20)) | 0x83                   # 4 GiB identity, 2 MiB pages
    with pytest.raises(db.DirectBootError, match="longer than"):
        db.lowmem(vmlinuz, tmp_path / "directboot-hook.bin", info, "x" * 2048, addr, 1)
    with pytest.raises(db.DirectBootError, match="not the direct-boot hook"):
        db.lowmem(vmlinuz, vmlinuz, info, "", addr, 1)


def test_initrd_must_fit_in_guest_ram():
    info = {"base": BASE, "init_size": 0x3F98000}
    assert db.initrd_address(info, 8 << 20, 1024) == 0x5000000
    with pytest.raises(db.DirectBootError, match="does not fit"):
        db.initrd_address(info, 200 << 20, 256)
