"""Failure paths of `dunelab up`, on QEMU TCG (it starts in a second): a guest that does not answer in
time is killed with its console log kept; SIGINT or SIGTERM during boot leaves no emulator behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from dunelab import vmproc
from dunelab.lab import Lab
from dunelab.labdef import load_lab

from ..conftest import PROJECT_ROOT
from .conftest import dunelab_cli

pytestmark = pytest.mark.vm


def tcg_lab(tmp_path, name: str, boot_timeout: int, cmdline: str = "") -> tuple[Lab, str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "backend": "qemu-tcg", "cpus": 1, "memory_mb": 512,
                                    "kernel_cmdline": cmdline, "ssh": {"port": 0},
                                    "timeouts": {"boot": boot_timeout}}))
    lab = Lab(load_lab(path))
    lab.down()
    return lab, str(path)


def test_hung_guest_is_killed_on_timeout_and_console_kept(tmp_path):
    # A root device that never appears: the guest's init waits for it, so SSH never answers.
    lab, path = tcg_lab(tmp_path, "itest-timeout", boot_timeout=30,
                        cmdline="dunelab.root=/dev/nonexistent dunelab.rootwait=3600")
    r = dunelab_cli("up", "--lab", path, timeout=600)
    assert r.returncode == 2
    err = (r.stdout + r.stderr).replace("\n", " ")
    assert "boot failed: no SSH answer within 30s" in err
    assert "console log kept at" in err
    assert "Linux version" in lab.console_log.read_text(errors="replace")
    assert lab.state() is None
    assert not _emulators_of(lab)


def test_kernel_panic_fails_at_once(tmp_path):
    # No init at all: the kernel panics; `up` must say so without waiting out the 10-minute timeout.
    lab, path = tcg_lab(tmp_path, "itest-panic", boot_timeout=600, cmdline="rdinit=/nonexistent init=/nonexistent")
    t0 = time.monotonic()
    r = dunelab_cli("up", "--lab", path, timeout=600)
    assert r.returncode == 2
    err = (r.stdout + r.stderr).replace("\n", " ")
    assert "boot failed" in err and "console log kept at" in err
    assert "Kernel panic" in lab.console_log.read_text(errors="replace")
    assert time.monotonic() - t0 < 590  # decided by the panic, not by the timeout
    assert not _emulators_of(lab)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_up_leaves_no_emulator(tmp_path, sig):
    lab, path = tcg_lab(tmp_path, f"itest-{sig.name.lower()}", boot_timeout=600)
    dunelab_cli("image", "build", timeout=900)  # so the emulator starts promptly below
    # The CLI as a user's terminal runs it: a test suite started in the background by a non-interactive
    # shell inherits SIGINT ignored (POSIX), and Python then keeps it ignored.
    proc = subprocess.Popen([sys.executable, "-m", "dunelab.cli", "up", "--lab", path], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while lab.state() is None and time.monotonic() < deadline:  # wait until the emulator runs
        time.sleep(0.2)
    state = lab.state()
    assert state is not None, "the emulator never started"
    ref = vmproc.ProcessRef.from_json(state["process"])
    assert vmproc.alive(ref)
    os.kill(proc.pid, sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert not vmproc.alive(ref)
    assert vmproc.group_members(ref.pid) == []
    assert lab.state() is None


def _emulators_of(lab: Lab) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if str(lab.dir) in line and "qemu-system" in line]


def test_state_file_is_json(tmp_path):
    # `status` on a lab that never ran: no state, reported as down.
    lab, path = tcg_lab(tmp_path, "itest-status", boot_timeout=60)
    r = dunelab_cli("status", "--json", "--lab", path)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "down"
