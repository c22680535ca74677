"""Content-addressed image cache under $DUNELAB_HOME/cache/images/.

A cache entry's name carries the sha256 of everything that determines its content (recipe,
builder sources, guest files, mirror URIs), so "same inputs" is a directory lookup. Entries are
built in a temp directory next to the final one and renamed into place only when complete: a
crash or Ctrl-C leaves a `.tmp-*` directory that the next build removes, never a half entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .. import paths
from .chroot import safe_rmtree

PACKAGE_DIR = Path(__file__).resolve().parent
GUEST_DIR = PACKAGE_DIR.parent / "guest"

# The builder sources and guest files that shape the rootfs stage; everything else only shapes the
# image forms (initramfs, disk), so editing e.g. the init script never re-runs debootstrap.
ROOTFS_SOURCES = ("rootfs.py", "mirrors.py", "chroot.py", "run.py")
ROOTFS_GUEST_FILES = ("dpkg-nodoc",)
ROOTFS_RECIPE_KEYS = ("arch", "distribution", "kernel_abi", "packages")


def cache_root() -> Path:
    return paths.home() / "cache" / "images"


def _digest_files(h, files: Iterable[Path]) -> None:
    for f in sorted(files):
        rel = f"{f.parent.name}/{f.name}"      # guest/init, images/rootfs.py: flat directories
        data = f.read_bytes()
        # length-prefixed so a renamed file or moved bytes can never collide
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)


def compute_key(recipe_json: str, sources: Iterable[Path], guest_files: Iterable[Path],
                mirrors: dict[str, str], extra: str = "") -> str:
    h = hashlib.sha256()
    h.update(b"dunelab-image-v1\0")
    h.update(recipe_json.encode() + b"\0")
    _digest_files(h, sources)
    _digest_files(h, guest_files)
    for suite in sorted(mirrors):
        h.update(f"mirror\0{suite}\0{mirrors[suite]}\0".encode())
    h.update(extra.encode())
    return h.hexdigest()


def all_sources(package_dir: Path | None = None) -> list[Path]:
    d = package_dir or PACKAGE_DIR
    return sorted([*d.glob("*.py"), *d.glob("*.S")])     # *.S: the direct-boot stubs


def all_guest_files(guest_dir: Path | None = None) -> list[Path]:
    d = guest_dir or GUEST_DIR
    return sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))


def rootfs_key(recipe, mirrors: dict[str, str], package_dir: Path | None = None,
               guest_dir: Path | None = None) -> str:
    pkg, guest = package_dir or PACKAGE_DIR, guest_dir or GUEST_DIR
    return compute_key(recipe.normalized(*ROOTFS_RECIPE_KEYS), [pkg / s for s in ROOTFS_SOURCES],
                       [guest / g for g in ROOTFS_GUEST_FILES], mirrors)


def image_key(recipe, mirrors: dict[str, str], package_dir: Path | None = None,
              guest_dir: Path | None = None) -> str:
    # The rootfs key is folded in, so anything that rebuilds the rootfs also rebuilds the forms.
    return compute_key(recipe.normalized(), all_sources(package_dir), all_guest_files(guest_dir),
                       mirrors, extra=rootfs_key(recipe, mirrors, package_dir, guest_dir))


def entry_dir(kind: str, key: str) -> Path:
    return cache_root() / f"{kind}-{key[:16]}"


@contextlib.contextmanager
def locked(root: Path | None = None, name: str = ".lock") -> Iterator[None]:
    """One builder at a time per cache (per lock `name`): concurrent `dunelab up`s wait instead of racing."""
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / name, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def clean_stale_temps(root: Path | None = None) -> None:
    """Remove leftovers of interrupted builds (only call while holding the lock)."""
    root = root or cache_root()
    for p in root.glob(".tmp-*"):
        safe_rmtree(p)


def temp_dir_for(final: Path) -> Path:
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    safe_rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def publish(tmp: Path, final: Path) -> None:
    """Atomically make a finished build visible (rename within one filesystem)."""
    old = None
    if final.exists():               # only with force=True: move the old entry aside first
        old = final.parent / f".tmp-old-{final.name}-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        safe_rmtree(old)
