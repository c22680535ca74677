"""One VM per test session, driven through the real `dunelab` CLI exactly as a user would.

The lab is a copy of labs/default.yaml named `itest` with a free SSH port, so it never collides with a
developer's own default lab. Teardown runs `dunelab down` and asserts no emulator process is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dunelab import hostinfo, vmproc
from dunelab.errors import HostError
from dunelab.lab import Lab
from dunelab.labdef import load_lab

from ..conftest import PROJECT_ROOT


def pytest_addoption(parser):
    parser.addoption("--lab-backend", default="auto", help="backend for the integration lab (default: auto)")


@dataclass
class RunningLab:
    lab: Lab
    yaml: Path
    up_output: str
    backend: str

    def cli(self, command: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        # --lab goes right after the subcommand: everything after `exec --` is the guest's command.
        return dunelab_cli(command, "--lab", str(self.yaml), *args, timeout=timeout)


def dunelab_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dunelab.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=PROJECT_ROOT, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="session")
def running_lab(request, tmp_path_factory) -> RunningLab:
    backend = request.config.getoption("--lab-backend")
    resolved, _ = hostinfo.choose_backend(backend, hostinfo.probe())
    from dunelab import backends
    try:
        backends.get(resolved).check_host(hostinfo.probe())
    except HostError as e:
        if backend == "auto":
            raise
        pytest.skip(f"backend {resolved} is not usable on this host: {e}")

    lab, path = default_lab_copy(f"itest-{resolved}", backend, tmp_path_factory.mktemp("lab") / "itest.yaml")

    up = dunelab_cli("up", "--lab", str(path), timeout=lab.spec.boot_timeout + 900)
    output = up.stdout + up.stderr
    if up.returncode != 0:
        pytest.fail(f"`dunelab up` failed ({up.returncode}):\n{output[-4000:]}\n--- console tail ---\n"
                    f"{_tail(lab.console_log)}")
    state = lab.state()
    running = RunningLab(lab, path, output, state["backend"])
    yield running

    if lab.state() is not None:       # `dunelab lab run` (test_scenarios) may have taken it down already
        lab.channel().close()
    ref = vmproc.ProcessRef.from_json(state["process"])
    down = dunelab_cli("down", "--lab", str(path))
    assert down.returncode == 0, down.stdout + down.stderr
    time.sleep(0.5)
    assert not vmproc.alive(ref), "the emulator survived `dunelab down`"
    assert vmproc.group_members(ref.pid) == [], "a process of the emulator's group survived `dunelab down`"


def default_lab_copy(name: str, backend: str, path: Path) -> tuple[Lab, Path]:
    """labs/default.yaml as lab `name` on `backend` with a free SSH port, written to `path`; any
    leftover VM of that name (an interrupted run) is taken down first, never mistaken for this one."""
    default = yaml.safe_load((PROJECT_ROOT / "labs/default.yaml").read_text())
    default.update(name=name, backend=backend, ssh={"port": 0})
    path.write_text(yaml.safe_dump(default))
    lab = Lab(load_lab(path))
    lab.down()
    return lab, path


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no console log)"


PROGRAM_TIMEOUT = 900  # Bochs runs guest code ~200x slower than native


@dataclass
class DuneGuest:
    """Dune installed in the session's lab: run programs, read the kernel log since a mark."""

    chan: object            # dunelab.channel.Channel
    art: object             # dunelab.artifacts.Artifacts
    mark: str

    def run(self, path: str, timeout: float = PROGRAM_TIMEOUT):
        # `timeout` in the guest too: a hung Dune program must not hang the suite.
        return self.chan.run(f"timeout -s KILL {int(timeout)} {path}", hide=True, warn=True,
                             timeout=timeout + 60)

    def sh(self, script: str, timeout: float = PROGRAM_TIMEOUT, warn: bool = True):
        import shlex

        return self.chan.run(f"timeout -s KILL {int(timeout)} sh -c {shlex.quote(script)}", hide=True,
                             warn=warn, timeout=timeout + 60)

    def new_mark(self) -> str:
        from dunelab.provisioning import tasks

        return tasks().dmesg_mark(self.chan.connection)

    def log_problems(self, mark: str) -> list[str]:
        from dunelab.provisioning import tasks

        return tasks().dmesg_problems(self.chan.connection, mark)

    def log_since(self, mark: str) -> str:
        from dunelab.provisioning import tasks

        return tasks().dmesg_since(self.chan.connection, mark)

    def ensure_loaded(self) -> None:
        """dune.ko loaded (a test before may have unloaded it to check that it can)."""
        self.chan.run("test -c /dev/dune || modprobe dune", hide=True)


@pytest.fixture(scope="session")
def dune(running_lab) -> DuneGuest:
    if not running_lab.lab.state()["guest_has_vmx"]:
        pytest.skip(f"{running_lab.backend} guests have no VMX: Dune cannot run there")
    from dunelab.provisioning import provision, tasks

    art = provision(running_lab.lab)
    chan = running_lab.lab.channel()
    return DuneGuest(chan, art, tasks().dmesg_mark(chan.connection))
