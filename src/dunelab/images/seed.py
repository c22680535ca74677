"""The per-lab seed: a tiny uncompressed cpio appended to the shared initramfs.

The kernel unpacks concatenated initramfs archives in order, so one cached initrd serves every lab
and each lab adds only its identity: the client key the guest trusts, the guest's host key (so
the client can pin it before boot) and the hostname. The init copies them into place at boot.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..errors import ConfigError
from .cpio import CpioWriter
from .image import Image

SEED_DIR = "dunelab/seed"
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def write_seed_cpio(out: Path, authorized_keys: str, host_key: Path, host_key_pub: Path,
                    hostname: str) -> Path:
    """Write /dunelab/seed/{authorized_keys,ssh_host_ed25519_key{,.pub},hostname} as newc cpio."""
    if not _HOSTNAME.match(hostname):
        raise ConfigError("seed", "hostname", f"{hostname!r} is not a valid host name")
    if not authorized_keys.strip():
        raise ConfigError("seed", "authorized_keys", "is empty: nobody could log in")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as f:
        w = CpioWriter(f)
        w.add_dir("dunelab", 0o755)
        w.add_dir(SEED_DIR, 0o700)
        w.add_file(f"{SEED_DIR}/authorized_keys", authorized_keys.rstrip("\n").encode() + b"\n", 0o600)
        w.add_file(f"{SEED_DIR}/ssh_host_ed25519_key", Path(host_key).read_bytes(), 0o600)
        w.add_file(f"{SEED_DIR}/ssh_host_ed25519_key.pub", Path(host_key_pub).read_bytes(), 0o644)
        w.add_file(f"{SEED_DIR}/hostname", hostname.encode() + b"\n", 0o644)
        w.close()
    tmp.replace(out)
    return out


def boot_initrd(image: Image, seed: Path, out: Path) -> Path:
    """image.initrd followed by the seed: what -initrd (QEMU) or the ISO's INITRD gets."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as dst:
        with image.initrd.open("rb") as src:
            shutil.copyfileobj(src, dst, 1 << 20)
        # The unpacker looks for the next archive at a 4-byte boundary (zero bytes are skipped).
        dst.write(b"\0" * (-dst.tell() % 4))
        with Path(seed).open("rb") as src:
            shutil.copyfileobj(src, dst)
    tmp.replace(out)
    return out
