"""libdune's in-guest self-test programs, run over the lab's channel and judged by their real effects.

The contract (src/libdune/tests): a guest program prints a line starting with PASS and exits 0, except
`exitcode`, which must end with status 42 (exit status propagation); a hostile program must end with
its documented non-zero status, never by the watchdog's SIGKILL (137).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .channel import Channel

GUEST_DIR = "/root/dune-tests"
KILLED = 137  # timeout -s KILL


@dataclass(frozen=True)
class Outcome:
    name: str
    status: int
    passed: bool
    output: str

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "passed": self.passed, "output_tail": self.output[-800:]}


def judge(name: str, status: int, output: str) -> bool:
    if name == "exitcode":
        return status == 42
    return status == 0 and bool(re.search(r"^PASS\b", output, re.M)) and not re.search(r"^FAIL\b", output, re.M)


def run_selftests(chan: Channel, timeout: float) -> list[Outcome]:
    listing = chan.run(f"ls {GUEST_DIR}/guest", hide=True, warn=True)
    names = sorted(listing.stdout.split()) if listing.exited == 0 else []
    outcomes = []
    for name in names:
        path = shlex.quote(f"{GUEST_DIR}/guest/{name}")
        r = chan.run(f"timeout -s KILL {int(timeout)} {path}", hide=True, warn=True, timeout=timeout + 60)
        out = r.stdout + r.stderr
        outcomes.append(Outcome(name, r.exited, judge(name, r.exited, out), out))
    return outcomes
