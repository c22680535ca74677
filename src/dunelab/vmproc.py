"""Emulator processes: started in their own session, identified by pid + start time, killed as a group.

The pid alone is not an identity (pids are reused), so state records the kernel's start time of the
process too; `down` only ever kills the process group it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_ticks: int          # field 22 of /proc/PID/stat

    def to_json(self) -> dict:
        return {"pid": self.pid, "start_ticks": self.start_ticks}

    @classmethod
    def from_json(cls, d: dict) -> ProcessRef:
        return cls(int(d["pid"]), int(d["start_ticks"]))


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def spawn(argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None
          ) -> tuple[subprocess.Popen, ProcessRef]:
    """Start argv in a new session with stdout/stderr to `log` and no stdin; `env` is added to ours."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **env} if env else None)
    ticks = _start_ticks(proc.pid)
    if ticks is None:  # exited at once; keep a ref that can never match a live process
        ticks = -1
    return proc, ProcessRef(proc.pid, ticks)


def alive(ref: ProcessRef) -> bool:
    return _start_ticks(ref.pid) == ref.start_ticks


def cpu_seconds(pgid: int) -> float:
    """Host CPU seconds (user + system) used so far by the live members of process group `pgid`:
    what an emulator costs the host, independent of how many other processes share its cores."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in group_members(pgid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])          # utime, stime (fields 14, 15)
    return total / hz


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def kill(ref: ProcessRef, grace: float = 5.0, popen: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL; reap when we are the parent.

    Returns once no live member of the group is left (an emulator's helpers included), as long as
    the leader is still the process we started (or already gone).
    """
    if popen is not None:
        popen.poll()
    if not alive(ref) and not group_members(ref.pid):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(ref.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()
            if not alive(ref) and not group_members(ref.pid):
                return
            time.sleep(0.1)
