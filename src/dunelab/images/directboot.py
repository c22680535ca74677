"""Image form for Bochs' direct boot: the kernel laid out in guest RAM, started without a boot
loader reading disks through the BIOS and without the kernel's decompressor.

Under Bochs a distribution bzImage spends about half of a cold boot in its XZ decompressor at
emulated speed (Bochs' log: the decompressor's and the kernel's CPU checks are ~4.5 G of ~8.9 G
emulated ticks apart), and isolinux reads 16 MB through emulated BIOS calls before that. Instead:

- at image build, the kernel's payload is decompressed once on the host and vmlinux's PT_LOAD
  segments are written where they sit in guest-physical memory (`kernel.ram`, from 16 MiB, sparse);
  the two stubs below are assembled (gcc, which scripts/bootstrap installs);
- at `up`, Bochs loads `kernel.ram`, the lab's initrd and a small low-memory block into guest RAM
  (optramimage) and boots a one-sector floppy. The boot sector (directboot-sector.S) jumps into the
  kernel's own real-mode setup code, which asks the BIOS for the memory map like after any boot
  loader and finally jumps to code32_start -- pointed at directboot-hook.S, which enters long mode
  on identity page tables and jumps to vmlinux's startup_64 with %rsi = boot_params (the 64-bit boot
  protocol; the decompressor takes the same jump when it is done). The kernel is not relocated:
  it runs at its link address, without KASLR (`nokaslr`), which a lab guest does not need.

Guest-physical memory at entry (the low block is one file, `lowmem.bin`, made per boot):
  0x07c00    boot sector (floppy)
  0x10000    kernel real-mode setup; its heap up to 0x1de00, stack top 0x1e000
  0x1e000    kernel command line
  0x1f000    long-mode hook; its GDT; the kernel's entry address at 0x1f100
  0x20000    page tables: PML4, PDPT, four page directories (identity, 4 GiB, 2 MiB pages)
  0x1000000  kernel.ram (LOAD_PHYSICAL_ADDR, the bzImage's pref_address)
  initrd     2 MiB-aligned after the kernel's init_size (initrd_address)
"""

from __future__ import annotations

import gzip
import lzma
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepError

SETUP_ADDR = 0x10000
HEAP_END = 0xE000                 # relative to SETUP_ADDR: stack top; heap_end_ptr = HEAP_END - 0x200
CMDLINE_ADDR = 0x1E000
HOOK_ADDR = 0x1F000
HOOK_ENTRY_OFFSET = 0x100         # `entry:` in directboot-hook.S
PAGE_TABLES = 0x20000             # PML4; PDPT at +0x1000; PDs at +0x2000..+0x5fff
LOW_END = PAGE_TABLES + 0x6000
FLOPPY_BYTES = 1474560            # a 1.44 MB floppy: Bochs picks the media type by size
SOURCES = {"sector": ("directboot-sector.S", 0x7C00), "hook": ("directboot-hook.S", HOOK_ADDR)}
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
    cmdline_size: int
    initrd_addr_max: int
    payload: bytes                # the compressed vmlinux (+ relocs), trailing size word cut

    @classmethod
    def parse(cls, data: bytes) -> BzImage:
        if len(data) < 0x270 or data[0x202:0x206] != b"HdrS":
            raise DirectBootError("not a bzImage (no HdrS setup header)")
        version = struct.unpack_from("<H", data, 0x206)[0]
        if version < 0x20C:
            raise DirectBootError(f"boot protocol {version >> 8}.{version & 0xff} is older than 2.12")
        xloadflags = struct.unpack_from("<H", data, 0x236)[0]
        if not xloadflags & 1:
            raise DirectBootError("the kernel has no 64-bit entry (xloadflags XLF_KERNEL_64 clear)")
        setup_sects = data[0x1F1] or 4
        setup_len = (setup_sects + 1) * 512
        if setup_len > HEAP_END - 0x200:
            raise DirectBootError(f"the real-mode setup ({setup_len} bytes) does not fit below its heap")
        offset, length = struct.unpack_from("<II", data, 0x248)
        start = setup_len + offset
        return cls(setup=data[:setup_len], version=version,
                   pref_address=struct.unpack_from("<Q", data, 0x258)[0],
                   init_size=struct.unpack_from("<I", data, 0x260)[0],
                   cmdline_size=struct.unpack_from("<I", data, 0x238)[0],
                   initrd_addr_max=struct.unpack_from("<I", data, 0x22C)[0],
                   payload=data[start:start + length])


def decompress_payload(payload: bytes) -> bytes:
    """vmlinux (ELF) from a bzImage payload: XZ (Debian) or gzip."""
    if payload.startswith(b"\xfd7zXZ\x00"):
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        out = dec.decompress(payload)          # the 4-byte size word after the stream is left over
        if not dec.eof:
            raise DirectBootError("the kernel's XZ payload is truncated")
        return out
    if payload.startswith(b"\x1f\x8b"):
        return gzip.decompress(payload[:-4]) if len(payload) > 4 else b""
    raise DirectBootError(f"unsupported kernel compression (payload starts {payload[:6].hex()}); "
                          "XZ and gzip are supported")


@dataclass(frozen=True)
class KernelLayout:
    entry: int                    # physical address of startup_64
    base: int                     # physical address kernel.ram is loaded at
    end: int                      # first byte after the last segment


def _segments(elf: bytes) -> tuple[int, list[tuple[int, int, int, int]]]:
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise DirectBootError("the kernel payload is not a little-endian ELF64 (vmlinux)")
    e_entry, e_phoff = struct.unpack_from("<QQ", elf, 0x18)
    e_phentsize, e_phnum = struct.unpack_from("<HH", elf, 0x36)
    loads = []
    for i in range(e_phnum):
        p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(
            "<IIQQQQQ", elf, e_phoff + i * e_phentsize)
        if p_type == 1:           # PT_LOAD
            loads.append((p_paddr, p_offset, p_filesz, p_memsz))
    if not loads:
        raise DirectBootError("vmlinux has no loadable segments")
    return e_entry, loads


def write_kernel_ram(bz: BzImage, out: Path) -> KernelLayout:
    """Decompress the payload and write vmlinux's segments at (physical address - pref_address)
    into `out`, leaving holes for zeros (the file is loaded at pref_address)."""
    elf = decompress_payload(bz.payload)
    entry, loads = _segments(elf)
    base = bz.pref_address
    end = max(p + memsz for p, _, _, memsz in loads)
    if min(p for p, *_ in loads) < base or not base <= entry < end:
        raise DirectBootError("vmlinux's segments or entry lie below the kernel's load address")
    if end - base > bz.init_size:
        raise DirectBootError("vmlinux is larger than the kernel's init_size")
    with open(out, "wb") as f:
        for paddr, offset, filesz, _ in sorted(loads):
            data = elf[offset:offset + filesz]
            f.seek(paddr - base)
            # zero pages stay holes (vmlinux's .bss and .brk are in the file as zeros)
            for chunk in range(0, len(data), 1 << 16):
                piece = data[chunk:chunk + (1 << 16)]
                if piece.count(0) == len(piece):
                    f.seek(len(piece), 1)
                else:
                    f.write(piece)
        f.truncate(end - base)
    return KernelLayout(entry=entry, base=base, end=end)


def assemble(name: str, out: Path, work: Path) -> None:
    """Assemble one of the stubs (SOURCES) into a flat binary at its link address."""
    src, addr = SOURCES[name]
    elf = work / f"directboot-{name}.elf"
    try:
        subprocess.run(["gcc", "-nostdlib", "-static", "-Wl,--build-id=none", f"-Wl,-Ttext={addr:#x}",
                        "-o", str(elf), str(Path(__file__).with_name(src))], check=True, capture_output=True,
                       text=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(elf), str(out)], check=True,
                       capture_output=True, text=True)
    except FileNotFoundError as e:
        raise DirectBootError(f"{e.filename} is missing (scripts/bootstrap installs gcc and binutils)") from None
    except subprocess.CalledProcessError as e:
        raise DirectBootError(f"assembling {src} failed: {e.stderr.strip()[-400:]}") from None
    finally:
        elf.unlink(missing_ok=True)


def build_direct(vmlinuz: Path, out_dir: Path, work: Path) -> dict:
    """The image's direct-boot artifacts: kernel.ram, boot-floppy.img, directboot-hook.bin."""
    bz = BzImage.parse(vmlinuz.read_bytes())
    layout = write_kernel_ram(bz, out_dir / "kernel.ram")
    sector = work / "directboot-sector.bin"
    assemble("sector", sector, work)
    boot = sector.read_bytes()
    if len(boot) != 512 or boot[510:] != b"\x55\xaa":
        raise DirectBootError(f"the boot sector is {len(boot)} bytes or unsigned")
    with open(out_dir / "boot-floppy.img", "wb") as f:
        f.write(boot)
        f.truncate(FLOPPY_BYTES)
    sector.unlink()
    assemble("hook", out_dir / "directboot-hook.bin", work)
    return {"entry": layout.entry, "base": layout.base, "end": layout.end, "init_size": bz.init_size,
            "boot_protocol": f"{bz.version >> 8}.{bz.version & 0xff}"}


def initrd_address(direct: dict, initrd_size: int, memory_mb: int) -> int:
    """Where the initrd goes: 2 MiB-aligned after the kernel's init_size (the kernel uses that much
    from its load address on), with 16 MiB left below the top of RAM for the BIOS' ACPI tables."""
    addr = (direct["base"] + direct["init_size"] + (2 << 20) - 1) & ~((2 << 20) - 1)
    if addr + initrd_size > min(memory_mb << 20, 0x80000000) - (16 << 20):
        raise DirectBootError(f"a {initrd_size >> 20} MiB initrd does not fit above the kernel in "
                              f"{memory_mb} MiB of guest RAM")
    return addr


def page_tables() -> bytes:
    """PML4, PDPT and four page directories identity-mapping 4 GiB with 2 MiB pages."""
    pml4 = struct.pack("<Q", (PAGE_TABLES + 0x1000) | 0x3).ljust(0x1000, b"\0")
    pdpt = b"".join(struct.pack("<Q", (PAGE_TABLES + 0x2000 + i * 0x1000) | 0x3) for i in range(4)).ljust(0x1000, b"\0")
    pds = b"".join(struct.pack("<Q", (i << 21) | 0x83) for i in range(4 * 512))     # P | RW | PS
    return pml4 + pdpt + pds


def lowmem(vmlinuz: Path, hook: Path, direct: dict, cmdline: str, initrd_addr: int, initrd_size: int) -> bytes:
    """The block Bochs loads at SETUP_ADDR: the kernel's setup with its header filled in as a boot
    loader would (boot.rst), the command line, the hook with the entry address, the page tables."""
    bz = BzImage.parse(vmlinuz.read_bytes())
    line = cmdline.encode()
    if len(line) >= min(bz.cmdline_size + 1, HOOK_ADDR - CMDLINE_ADDR):
        raise DirectBootError(f"the kernel command line is longer than {bz.cmdline_size} bytes")
    if initrd_addr + initrd_size - 1 > bz.initrd_addr_max:
        raise DirectBootError("the initrd lies above the kernel's initrd_addr_max")
    setup = bytearray(bz.setup)
    setup[0x210] = 0xFF                                    # type_of_loader: undefined
    setup[0x211] = (setup[0x211] | 0x80) & ~0x62           # CAN_USE_HEAP; no KASLR/QUIET/KEEP_SEGMENTS
    struct.pack_into("<I", setup, 0x214, HOOK_ADDR)        # code32_start: the hook, not the decompressor
    struct.pack_into("<II", setup, 0x218, initrd_addr, initrd_size)
    struct.pack_into("<H", setup, 0x224, HEAP_END - 0x200)  # heap_end_ptr
    struct.pack_into("<I", setup, 0x228, CMDLINE_ADDR)     # cmd_line_ptr
    code = bytearray(hook.read_bytes())
    if (len(code) < HOOK_ENTRY_OFFSET + 8 or len(code) > PAGE_TABLES - HOOK_ADDR or code[0] != 0xFA
            or any(code[HOOK_ENTRY_OFFSET:HOOK_ENTRY_OFFSET + 8])):   # cli first, empty entry slot
        raise DirectBootError(f"{hook} is not the direct-boot hook (no empty entry slot at {HOOK_ENTRY_OFFSET:#x})")
    struct.pack_into("<Q", code, HOOK_ENTRY_OFFSET, direct["entry"])
    block = bytearray(LOW_END - SETUP_ADDR)
    block[0:len(setup)] = setup
    block[CMDLINE_ADDR - SETUP_ADDR:CMDLINE_ADDR - SETUP_ADDR + len(line)] = line
    block[HOOK_ADDR - SETUP_ADDR:HOOK_ADDR - SETUP_ADDR + len(code)] = code
    block[PAGE_TABLES - SETUP_ADDR:] = page_tables()
    return bytes(block)


__all__ = ["CMDLINE_ADDR", "HOOK_ADDR", "SETUP_ADDR", "BzImage", "DirectBootError", "build_direct",
           "initrd_address", "lowmem", "write_kernel_ram"]
