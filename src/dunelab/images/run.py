"""Running build tools: full output to a log file, the latest interesting line to the progress
display, and a one-line StepError pointing at the log when a tool fails."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import StepError

# A line worth showing as progress detail: debootstrap's "I: ..." stages, dpkg/apt actions.
_INTERESTING = re.compile(r"^(I: |Unpacking |Setting up |Get:\d+ |Preparing to unpack |Processing )")


def run_logged(argv: Sequence[str], log: Path, step_name: str,
               detail: Callable[[str], None] | None = None,
               env: dict[str, str] | None = None, check: bool = True) -> int:
    """Run argv appending stdout+stderr to `log`; feed interesting lines to `detail`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", DEBIAN_FRONTEND="noninteractive")
    if env:
        full_env.update(env)
    with log.open("a") as lf:
        lf.write(f"\n$ {' '.join(argv)}\n")
        lf.flush()
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=full_env, text=True, errors="replace")
        except FileNotFoundError:
            raise StepError(step_name, f"{argv[0]} is not installed") from None
        last = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            lf.write(line)
            line = line.rstrip()
            if line:
                last = line
            if detail and _INTERESTING.match(line):
                detail(line[:70])
        rc = proc.wait()
        lf.write(f"[exit {rc}]\n")
    if check and rc != 0:
        raise StepError(step_name, f"{os.path.basename(argv[0])} exited with {rc}: {last[:160]} "
                        f"(full log: {log})")
    return rc


def capture(argv: Sequence[str], step_name: str) -> str:
    """Run a quick command and return its stdout; StepError with its stderr on failure."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                           env=dict(os.environ, LC_ALL="C.UTF-8"))
    except FileNotFoundError:
        raise StepError(step_name, f"{argv[0]} is not installed") from None
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise StepError(step_name, f"{' '.join(argv[:3])} exited with {p.returncode}: {err}")
    return p.stdout
