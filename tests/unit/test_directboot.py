"""vmlinuz-direct without an emulator: a synthetic bzImage (setup header + XZ payload of a small
ELF64) is laid out, its header rewritten for the new protected-mode part, and the hook assembled."""

from __future__ import annotations

import gzip
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
    setup[0x211] = 0x01 | 0x02                              # LOADED_HIGH, KASLR as shipped
    struct.pack_into("<I", setup, 0x214, 0x100000)
    setup[0x234] = 1                                        # relocatable
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<II", setup, 0x248, 0x40, len(payload))
    struct.pack_into("<Q", setup, 0x258, BASE)              # pref_address
    struct.pack_into("<I", setup, 0x260, init_size)
    struct.pack_into("<I", setup, 0x264, 0x190)             # handover_offset
    return bytes(setup) + b"\x90" * 0x40 + payload


def xz_payload(elf: bytes) -> bytes:
    # as the kernel's build appends it: the XZ stream, then the uncompressed size (le32)
    return lzma.compress(elf, format=lzma.FORMAT_XZ) + struct.pack("<I", len(elf))


TEXT = b"\xcc" * 0x2000
DATA = b"\x11" * 0x100 + b"\0" * 0x30000 + b"\x22" * 0x10    # a zero run: a hole in the file
BSS = 0x5000
ELF = elf64(BASE, [(BASE, TEXT, len(TEXT)), (BASE + 0x200000, DATA + b"\0" * BSS, len(DATA) + BSS)])


def test_layout_places_segments_and_cuts_trailing_zeros():
    lay = db.layout(db.BzImage.parse(bzimage(xz_payload(ELF))))
    assert (lay.entry, lay.base, lay.end) == (BASE, BASE, BASE + 0x200000 + len(DATA) + BSS)
    assert len(lay.image) % db.PAGE == 0 and len(lay.image) < lay.end - lay.base   # .bss not stored
    assert lay.image[:len(TEXT)] == TEXT
    assert lay.image[0x200000:0x200000 + len(DATA)] == DATA
    assert not any(lay.image[len(TEXT):0x200000])         # gaps between segments are zero


def test_gzip_payloads_work_too():
    bz = db.BzImage.parse(bzimage(gzip.compress(ELF) + struct.pack("<I", len(ELF))))
    assert db.layout(bz).entry == BASE


@pytest.mark.parametrize("image, message", [
    (b"MZ" + b"\0" * 1000, "not a bzImage"),
    (bzimage(xz_payload(ELF), version=0x20B), "older than 2.12"),
    (bzimage(xz_payload(ELF), xloadflags=0), "not a 64-bit kernel"),
])
def test_unsupported_kernels_are_named(image, message):
    with pytest.raises(db.DirectBootError, match=message):
        db.BzImage.parse(image)


def test_bad_payloads_are_named():
    with pytest.raises(db.DirectBootError, match="unsupported kernel compression"):
        db.layout(db.BzImage.parse(bzimage(b"\x02\x21\x4c\x18" + b"\0" * 64)))
    with pytest.raises(db.DirectBootError, match="truncated"):
        db.layout(db.BzImage.parse(bzimage(xz_payload(ELF)[:200])))
    with pytest.raises(db.DirectBootError, match="init_size"):
        db.layout(db.BzImage.parse(bzimage(xz_payload(ELF), init_size=0x1000)))


@pytest.mark.skipif(not shutil.which("gcc") or not shutil.which("objcopy"),
                    reason="gcc/objcopy missing (scripts/bootstrap installs them)")
def test_vmlinuz_direct(tmp_path):
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(bzimage(xz_payload(ELF)))
    out = tmp_path / "vmlinuz-direct"
    info = db.build_direct(vmlinuz, out, tmp_path)
    lay = db.layout(db.BzImage.parse(vmlinuz.read_bytes()))
    assert info == {"entry": BASE, "load_address": BASE, "kernel_end": lay.end, "kernel_bytes": len(lay.image),
                    "boot_protocol": "2.15"}
    data = out.read_bytes()
    setup_len = 4 * 512
    assert data[:0x1F1] == bzimage(b"")[:0x1F1]                 # the kernel's own setup code
    pm = data[setup_len:]
    assert len(pm) == db.KERNEL_OFFSET + len(lay.image)
    assert struct.unpack_from("<I", data, 0x1F4)[0] * 16 >= len(pm)     # syssize covers it
    assert struct.unpack_from("<I", data, 0x214)[0] == db.PM_BASE      # code32_start: the hook
    assert data[0x234] == 0 and struct.unpack_from("<H", data, 0x236)[0] == 0   # fixed address, no 64-bit entry
    assert not data[0x211] & 0x02 and data[0x211] & 0x01
    assert struct.unpack_from("<II", data, 0x248) == (0, 0)
    assert struct.unpack_from("<I", data, 0x260)[0] == lay.end - db.PM_BASE
    assert struct.unpack_from("<I", data, 0x264)[0] == 0
    # the hook: cli first; parameters as the .S reads them
    assert pm[0] == 0xFA
    entry, src, dst, length, zero_len = struct.unpack_from("<QIIII", pm, db.PARAMS)
    assert (entry, src, dst) == (BASE, db.PM_BASE + db.KERNEL_OFFSET, BASE)
    assert length == len(lay.image) and dst + length + zero_len == lay.end
    assert pm[db.KERNEL_OFFSET:] == lay.image
    assert not any(pm[db.HOOK_SIZE:db.KERNEL_OFFSET])          # room for the page tables
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vmlinuz", "vmlinuz-direct"]   # no leftovers
