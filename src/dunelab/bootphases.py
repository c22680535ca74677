"""Boot phases: when each milestone of a boot showed on the guest's console, in wall seconds since
the emulator started and in host CPU seconds the emulator had used by then.

On a shared host, wall time depends on everyone else's load; the emulator's own CPU seconds much
less so. Both go into boots.jsonl with the host's 1-minute load average at the start, so boot
methods measured at different times can still be compared honestly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from . import vmproc

# (phase, console text), in boot order. `loader`: the BIOS reached a boot loader (ISOLINUX) or
# dunelab's own loader stub; `kernel`: Linux's first line (after the decompressor, if any);
# `init`: userspace starts; `ready`: sshd listens.
MARKS: tuple[tuple[str, str], ...] = (
    ("loader", "ISOLINUX"),
    ("loader", "dunelab-boot:"),
    ("kernel", "Linux version"),
    ("init", "Run /init as init process"),
    ("ready", "dunelab: sshd up"),
)


class BootWatch:
    """Follows a console log from its start; call poll() as often as convenient."""

    def __init__(self, console: Path, pgid: int | None, started: float,
                 marks: tuple[tuple[str, str], ...] = MARKS):
        self.console = console
        self.pgid = pgid
        self.started = started
        self.marks = marks
        self.phases: dict[str, dict[str, float]] = {}
        self.load_1min = round(os.getloadavg()[0], 2)
        self._offset = 0
        self._carry = b""
        self._longest = max(len(text) for _, text in marks)

    def poll(self, now: float | None = None) -> None:
        try:
            with open(self.console, "rb") as f:
                f.seek(self._offset)
                new = f.read()
        except OSError:
            return
        if not new:
            return
        self._offset += len(new)
        window = self._carry + new
        self._carry = window[-self._longest:]
        pending = [(name, text) for name, text in self.marks if name not in self.phases]
        if not pending:
            return
        now = time.time() if now is None else now
        cpu = vmproc.cpu_seconds(self.pgid) if self.pgid else None
        for name, text in pending:
            if text.encode() in window and name not in self.phases:
                self.phases[name] = {"s": round(now - self.started, 1)}
                if cpu is not None:
                    self.phases[name]["cpu_s"] = round(cpu, 1)

    def record(self) -> dict:
        """The fields a boots.jsonl row gets from this boot (poll first)."""
        out: dict = {"load_1min": self.load_1min, "phases": self.phases}
        if self.pgid:
            out["emulator_cpu_s"] = round(vmproc.cpu_seconds(self.pgid), 1)
        return out
