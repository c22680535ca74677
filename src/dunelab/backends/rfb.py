"""A minimal RFB (VNC) client: enough to press a button in Bochs' header bar and type into the
console Bochs then shows in the VNC screen.

That is the only way Bochs 2.7 offers to save a running simulation without a desktop: its debugger
has no save command, and its text menus offer no "save state" at run time; the header bar's
save/restore button asks for a folder through the GUI's console, saves, and asks whether to go on.
Protocol 3.3 with no authentication (Bochs' built-in server); the server's pushes are read and
dropped on a thread so it never blocks writing to us.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from pathlib import Path

XK_RETURN = 0xFF0D


class RfbError(OSError):
    pass


class RfbClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            version = self._recv(12)
            if not version.startswith(b"RFB "):
                raise RfbError(f"not an RFB server on port {port}: {version!r}")
            self.sock.sendall(b"RFB 003.003\n")
            (security,) = struct.unpack(">I", self._recv(4))
            if security != 1:  # 1 = no authentication; 0 = failure (a reason string follows)
                raise RfbError(f"RFB server on port {port} asks for security type {security}")
            self.sock.sendall(b"\x01")  # ClientInit: shared
            self.width, self.height = struct.unpack(">HH", self._recv(4))
            self._recv(16)  # pixel format
            (name_len,) = struct.unpack(">I", self._recv(4))
            self.name = self._recv(name_len).decode(errors="replace")
        except BaseException:
            self.sock.close()
            raise
        self.sock.settimeout(None)
        self._drain = threading.Thread(target=self._discard, daemon=True)
        self._drain.start()

    def _recv(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise RfbError("RFB server closed the connection")
            buf += chunk
        return buf

    def _discard(self) -> None:
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def pointer(self, x: int, y: int, buttons: int) -> None:
        self.sock.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def click(self, x: int, y: int) -> None:
        """Move, press and release the left button at (x, y)."""
        for buttons in (0, 1, 0):
            self.pointer(x, y, buttons)
            time.sleep(0.1)

    def type(self, text: str, delay: float = 0.05) -> None:
        """Key presses for printable ASCII and newline (Return)."""
        for ch in text:
            keysym = XK_RETURN if ch == "\n" else ord(ch)
            if not (ch == "\n" or 0x20 <= keysym < 0x7F):
                raise ValueError(f"cannot type {ch!r}")
            self.sock.sendall(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0, keysym))
            time.sleep(delay)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def __enter__(self) -> RfbClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def listening_ports(pid: int) -> set[int]:
    """TCP ports process `pid` listens on (IPv4), from /proc: no log parsing, no extra tools."""
    inodes = set()
    try:
        fds = list((_proc(pid) / "fd").iterdir())
    except OSError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    try:
        lines = (_proc(pid) / "net" / "tcp").read_text().splitlines()[1:]
    except OSError:
        return set()
    for line in lines:
        f = line.split()
        if len(f) > 9 and f[3] == "0A" and f[9] in inodes:   # 0A = LISTEN
            ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def _proc(pid: int) -> Path:
    return Path("/proc") / str(pid)
