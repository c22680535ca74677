"""A bootable ISO (isolinux) around a kernel + initrd, for emulators that cannot take a bare
kernel (Bochs boots from a CD or disk only)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..errors import HostError, StepError
from .run import capture

ISOLINUX_BIN = Path("/usr/lib/ISOLINUX/isolinux.bin")            # Debian package isolinux
ISOHYBRID_MBR = Path("/usr/lib/ISOLINUX/isohdpfx.bin")           # isolinux: also boots as a disk
LDLINUX_C32 = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")  # Debian package syslinux-common


def isolinux_cfg(cmdline: str) -> str:
    # No prompt, no menu, no timeout: every second counts under Bochs. SERIAL mirrors isolinux's
    # own messages to the serial port, where the backends read the console.
    if "\n" in cmdline:
        raise ValueError("kernel command line must be one line")
    return ("SERIAL 0 115200\n"
            "DEFAULT dunelab\n"
            "PROMPT 0\n"
            "TIMEOUT 0\n"
            "LABEL dunelab\n"
            "  KERNEL /isolinux/vmlinuz\n"
            "  INITRD /isolinux/initrd.img\n"
            f"  APPEND {cmdline}\n")


def make_iso(kernel: Path, initrd: Path, cmdline: str, out: Path) -> Path:
    """Write an El Torito (and isohybrid) ISO that boots `kernel` with `initrd` and `cmdline`."""
    for f, pkg in ((ISOLINUX_BIN, "isolinux"), (LDLINUX_C32, "syslinux-common")):
        if not f.is_file():
            raise HostError(f"{f} is missing: apt-get install {pkg}")
    if not shutil.which("xorriso"):
        raise HostError("xorriso is not installed: apt-get install xorriso")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".iso-", dir=out.parent) as tmp:
        tree = Path(tmp) / "tree"
        d = tree / "isolinux"
        d.mkdir(parents=True)
        # isolinux.bin is patched in place (boot info table), so always a private copy.
        shutil.copyfile(ISOLINUX_BIN, d / "isolinux.bin")
        shutil.copyfile(LDLINUX_C32, d / "ldlinux.c32")
        shutil.copyfile(kernel, d / "vmlinuz")
        shutil.copyfile(initrd, d / "initrd.img")
        (d / "isolinux.cfg").write_text(isolinux_cfg(cmdline))
        part = Path(tmp) / "out.iso"
        argv = ["xorriso", "-as", "mkisofs", "-quiet", "-o", str(part), "-V", "DUNELAB",
                "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                "-boot-load-size", "4", "-boot-info-table", "-R", "-J"]
        if ISOHYBRID_MBR.is_file():
            argv += ["-isohybrid-mbr", str(ISOHYBRID_MBR)]
        capture([*argv, str(tree)], "ISO image")
        if not part.is_file():
            raise StepError("ISO image", "xorriso wrote no image")
        part.replace(out)
    return out
