"""A minimal writer for the "newc" cpio format, the only one the kernel's initramfs unpacker reads.

Written here instead of calling cpio(1) so archives are reproducible (fixed owner and mtime,
sorted entries) and the per-lab seed needs no external tool.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

_MAGIC = b"070701"
MTIME = 0  # fixed: the same inputs give byte-identical archives


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


class CpioWriter:
    def __init__(self, out: BinaryIO, mtime: int = MTIME):
        self.out = out
        self.mtime = mtime
        self.ino = 0
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1,
               rdev: tuple[int, int] = (0, 0), uid: int = 0, gid: int = 0) -> None:
        name = name.strip("/") or "."
        self.ino += 1
        raw = name.encode() + b"\0"
        fields = (self.ino, mode, uid, gid, nlink, self.mtime, len(data), 0, 0, rdev[0], rdev[1], len(raw), 0)
        header = _MAGIC + b"".join(b"%08X" % f for f in fields)
        self.out.write(header + raw + _pad4(len(header) + len(raw)))
        self.out.write(data + _pad4(len(data)))

    def _parents(self, name: str) -> None:
        # The unpacker does not create missing parents, so emit every ancestor once.
        parts = name.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755, nlink=2)

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._parents(name)
        key = name.strip("/")
        if key not in self.dirs:
            self.dirs.add(key)
            self._entry(name, stat.S_IFDIR | mode, nlink=2)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._parents(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def add_node(self, name: str, mode: int, major: int, minor: int) -> None:
        self._parents(name)
        self._entry(name, mode, rdev=(major, minor))

    def add_tree(self, root: Path) -> None:
        """Everything under `root` (not following symlinks), parents before children."""
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir != ".":
                st = os.lstat(dirpath)
                self.add_dir(rel_dir, stat.S_IMODE(st.st_mode))
            for fn in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                path = os.path.join(dirpath, fn)
                rel = os.path.normpath(os.path.join(rel_dir, fn))
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    self.add_symlink(rel, os.readlink(path))
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        self.add_file(rel, f.read(), stat.S_IMODE(st.st_mode))
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    self.add_node(rel, st.st_mode, os.major(st.st_rdev), os.minor(st.st_rdev))

    def close(self) -> None:
        self.ino = 0
        self._entry("TRAILER!!!", 0)
