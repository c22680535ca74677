"""vmlinuz-direct: the image's kernel in a form Bochs boots without running its decompressor.

Under Bochs a distribution bzImage spends about half of a cold boot in its XZ decompressor at
emulated speed (Bochs' log: the decompressor's and the kernel's CPU checks are ~4.5 G of ~8.9 G
emulated ticks apart); reading the files through isolinux and the BIOS costs a few percent.

So the image build decompresses the kernel once on the host and writes a bzImage that any boot
loader loads as usual -- the kernel's own real-mode setup, then a protected-mode part at 0x100000 --
whose protected-mode part is not the decompressor but:

    0x0000  directboot-hook.S (its parameters at 0x100)
    0x1000  room for the hook's page tables (6 pages, built at run time)
    0x8000  vmlinux's PT_LOAD segments laid out as from LOAD_PHYSICAL_ADDR, trailing zeros cut

The hook moves the kernel to LOAD_PHYSICAL_ADDR, zeroes its tail, enters long mode and jumps to
vmlinux's startup_64 with boot_params, as the decompressor would. The kernel is not relocated
(no KASLR: `nokaslr`, which a lab guest does not need). The setup header says what changed: not
relocatable (loaded at 0x100000), no 64-bit or EFI entry, no compressed payload, the memory it
needs (init_size) from 0x100000 up to the kernel's end.
"""

from __future__ import annotations

import gzip
import lzma
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepError

PM_BASE = 0x100000                # where boot loaders put a bzImage's protected-mode part
HOOK_SOURCE = "directboot-hook.S"
HOOK_SIZE = 0x1000
PARAMS = 0x100                    # entry (u64), src, dst, len, zero_len (u32): see the .S
KERNEL_OFFSET = 0x8000            # hook page + six page-table pages + one spare page
PAGE = 0x1000
STEP = "direct boot"


class DirectBootError(StepError):
    def __init__(self, reason: str):
        super().__init__(STEP, reason)


@dataclass(frozen=True)
class BzImage:
    """The facts of a bzImage's setup header that a loader needs (boot.rst)."""
    setup: bytes                  # the real-mode part, (setup_sects + 1) * 512 bytes
    version: int
    pref_address: int             # LOAD_PHYSICAL_ADDR of a relocatable kernel
    init_size: int                # memory the kernel needs from pref_address on
    payload: bytes                # the compressed vmlinux (+ relocs)

    @classmethod
    def parse(cls, data: bytes) -> BzImage:
        if len(data) < 0x270 or data[0x202:0x206] != b"HdrS":
            raise DirectBootError("not a bzImage (no HdrS setup header)")
        version = struct.unpack_from("<H", data, 0x206)[0]
        if version < 0x20C:
            raise DirectBootError(f"boot protocol {version >> 8}.{version & 0xff} is older than 2.12")
        if not struct.unpack_from("<H", data, 0x236)[0] & 1:
            raise DirectBootError("not a 64-bit kernel (xloadflags XLF_KERNEL_64 clear)")
        setup_len = ((data[0x1F1] or 4) + 1) * 512
        offset, length = struct.unpack_from("<II", data, 0x248)
        start = setup_len + offset
        return cls(setup=data[:setup_len], version=version,
                   pref_address=struct.unpack_from("<Q", data, 0x258)[0],
                   init_size=struct.unpack_from("<I", data, 0x260)[0],
                   payload=data[start:start + length])


def decompress_payload(payload: bytes) -> bytes:
    """vmlinux (ELF) from a bzImage payload: XZ (Debian's) or gzip."""
    if payload.startswith(b"\xfd7zXZ\x00"):
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        out = dec.decompress(payload)          # the 4-byte size word after the stream is left over
        if not dec.eof:
            raise DirectBootError("the kernel's XZ payload is truncated")
        return out
    if payload.startswith(b"\x1f\x8b"):
        return gzip.decompress(payload[:-4])
    raise DirectBootError(f"unsupported kernel compression (payload starts {payload[:6].hex()}); "
                          "XZ and gzip are supported")


@dataclass(frozen=True)
class Layout:
    entry: int                    # physical address of startup_64
    base: int                     # LOAD_PHYSICAL_ADDR: where the image goes
    end: int                      # first byte after the kernel's last segment (memsz)
    image: bytes                  # base..end, trailing zeros cut, padded to a page


def layout(bz: BzImage) -> Layout:
    """vmlinux's PT_LOAD segments placed at (physical address - pref_address)."""
    elf = decompress_payload(bz.payload)
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise DirectBootError("the kernel payload is not a little-endian ELF64 (vmlinux)")
    entry, phoff = struct.unpack_from("<QQ", elf, 0x18)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(
            "<IIQQQQQ", elf, phoff + i * phentsize)
        if p_type == 1:           # PT_LOAD
            loads.append((p_paddr, p_offset, p_filesz, p_memsz))
    if not loads:
        raise DirectBootError("vmlinux has no loadable segments")
    base = bz.pref_address
    end = max(p + memsz for p, _, _, memsz in loads)
    if min(p for p, *_ in loads) < base or not base <= entry < end or base % (2 << 20):
        raise DirectBootError("vmlinux's segments or entry lie below its load address, or it is not 2 MiB aligned")
    if end - base > bz.init_size:
        raise DirectBootError("vmlinux is larger than the kernel's init_size")
    image = bytearray(end - base)
    for paddr, offset, filesz, _ in loads:
        image[paddr - base:paddr - base + filesz] = elf[offset:offset + filesz]
    used = len(image.rstrip(b"\0"))
    return Layout(entry=entry, base=base, end=end, image=bytes(image[:-(-used // PAGE) * PAGE]))


def assemble_hook(out: Path, work: Path) -> None:
    """directboot-hook.S as a flat binary linked at PM_BASE (gcc and objcopy: scripts/bootstrap)."""
    elf = work / "directboot-hook.elf"
    src = Path(__file__).with_name(HOOK_SOURCE)
    try:
        subprocess.run(["gcc", "-nostdlib", "-static", "-Wl,--build-id=none", f"-Wl,-Ttext={PM_BASE:#x}",
                        "-o", str(elf), str(src)], check=True, capture_output=True, text=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(elf), str(out)], check=True,
                       capture_output=True, text=True)
    except FileNotFoundError as e:
        raise DirectBootError(f"{e.filename} is missing (scripts/bootstrap installs gcc and binutils)") from None
    except subprocess.CalledProcessError as e:
        raise DirectBootError(f"assembling {src.name} failed: {e.stderr.strip()[-400:]}") from None
    finally:
        elf.unlink(missing_ok=True)
    code = out.read_bytes()
    if len(code) != HOOK_SIZE or code[0] != 0xFA or any(code[PARAMS:PARAMS + 24]):
        raise DirectBootError(f"{src.name} assembled to {len(code)} bytes without its parameter block")


def hook_with_params(hook: bytes, lay: Layout) -> bytes:
    code = bytearray(hook)
    src = PM_BASE + KERNEL_OFFSET
    struct.pack_into("<QIIII", code, PARAMS, lay.entry, src, lay.base, len(lay.image),
                     (lay.end - lay.base) - len(lay.image))
    return bytes(code)


def patched_setup(bz: BzImage, pm_size: int, lay: Layout) -> bytes:
    """The kernel's setup with a header that describes vmlinuz-direct's protected-mode part."""
    s = bytearray(bz.setup)
    struct.pack_into("<I", s, 0x1F4, -(-pm_size // 16))          # syssize, 16-byte units
    s[0x211] &= ~0x02                                            # loadflags: no KASLR_FLAG
    struct.pack_into("<I", s, 0x214, PM_BASE)                    # code32_start: the hook
    s[0x234] = 0                                                 # relocatable_kernel: load it at 0x100000
    struct.pack_into("<H", s, 0x236, 0)                          # xloadflags: no 64-bit/EFI entry
    struct.pack_into("<II", s, 0x248, 0, 0)                      # payload_offset/length: none
    struct.pack_into("<I", s, 0x260, lay.end - PM_BASE)          # init_size: up to the kernel's end
    struct.pack_into("<I", s, 0x264, 0)                          # handover_offset: no EFI handover
    return bytes(s)


def build_direct(vmlinuz: Path, out: Path, work: Path) -> dict:
    """Write vmlinuz-direct for `vmlinuz`; returns the facts for the image manifest."""
    bz = BzImage.parse(vmlinuz.read_bytes())
    lay = layout(bz)
    hook = work / "directboot-hook.bin"
    assemble_hook(hook, work)
    code = hook_with_params(hook.read_bytes(), lay)
    hook.unlink()
    pm_size = KERNEL_OFFSET + len(lay.image)
    with open(out, "wb") as f:
        f.write(patched_setup(bz, pm_size, lay))
        f.write(code)
        f.seek(KERNEL_OFFSET - len(code), 1)
        for i in range(0, len(lay.image), 1 << 16):         # zero runs stay holes
            piece = lay.image[i:i + (1 << 16)]
            if piece.count(0) == len(piece):
                f.seek(len(piece), 1)
            else:
                f.write(piece)
        f.truncate(len(bz.setup) + pm_size)
    return {"entry": lay.entry, "load_address": lay.base, "kernel_end": lay.end,
            "kernel_bytes": len(lay.image), "boot_protocol": f"{bz.version >> 8}.{bz.version & 0xff}"}


__all__ = ["BzImage", "DirectBootError", "build_direct", "layout"]
