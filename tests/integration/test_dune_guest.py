"""Dune in the lab guest, beyond what one scenario row can say: the device node, two Dune processes at
once, the panic backtrace, a clean kernel log, and the module unloading afterwards. libdune's
self-tests and hostile programs are scenario rows (scenarios/selftest, scenarios/hostile), run by
test_scenarios.py through `dunelab run`.

Runs only where the guest has VMX (Bochs, or QEMU/KVM with nested VMX); elsewhere it says so.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pytest

from dunelab.artifacts import Artifacts
from dunelab.channel import Channel
from dunelab.scenarios import LIBDUNE_TESTS as GUEST_DIR

pytestmark = [pytest.mark.vm, pytest.mark.dune]

PROGRAM_TIMEOUT = 900  # Bochs runs guest code ~200x slower than native


@dataclass
class DuneGuest:
    chan: Channel
    art: Artifacts
    mark: str

    def run(self, path: str, timeout: float = PROGRAM_TIMEOUT):
        # `timeout` in the guest too: a hung Dune program must not hang the suite.
        return self.chan.run(f"timeout -s KILL {int(timeout)} {shlex.quote(path)}", hide=True, warn=True,
                             timeout=timeout + 60)


@pytest.fixture(scope="module")
def dune(running_lab) -> DuneGuest:
    if not running_lab.lab.state()["guest_has_vmx"]:
        pytest.skip(f"{running_lab.backend} guests have no VMX: Dune cannot run there")
    from dunelab.provisioning import provision, tasks

    art = provision(running_lab.lab)
    chan = running_lab.lab.channel()
    return DuneGuest(chan, art, tasks().dmesg_mark(chan.connection))


def test_dev_dune_is_misc_233(dune):
    out = dune.chan.run("stat -c '%F %t:%T' /dev/dune", hide=True).stdout.strip()
    assert out == "character special file a:e9"  # misc major 10, minor 233


def test_two_dune_processes_at_once(dune):
    script = (f"{GUEST_DIR}/guest/syscall > /tmp/a.out 2>&1 & a=$!; "
              f"{GUEST_DIR}/guest/thread > /tmp/b.out 2>&1 & b=$!; "
              "wait $a; ra=$?; wait $b; rb=$?; cat /tmp/a.out /tmp/b.out; echo status $ra $rb")
    r = dune.chan.run(f"timeout -s KILL {PROGRAM_TIMEOUT} sh -c {shlex.quote(script)}", hide=True, warn=True,
                      timeout=PROGRAM_TIMEOUT + 60)
    assert r.stdout.strip().endswith("status 0 0"), r.stdout[-3000:]
    assert len(re.findall(r"^PASS\b", r.stdout, re.M)) == 2, r.stdout[-3000:]


def test_panic_prints_a_backtrace(dune):
    """ud2 faults one call below main: the backtrace's frame #1 is the return address into main."""
    r = dune.run(f"{GUEST_DIR}/hostile/ud2", timeout=600)
    out = r.stdout + r.stderr
    main = re.search(r"main at 0x([0-9a-f]+), execute_ud2 at 0x([0-9a-f]+)", out)
    frame1 = re.search(r"^\s+#1 ([0-9a-f]{16})$", out, re.M)
    assert main and frame1, out
    main_at, callee_at, ret = int(main[1], 16), int(main[2], 16), int(frame1[1], 16)
    # main is laid out before execute_ud2 here; the return address lies inside main
    assert main_at < ret < max(callee_at, main_at + 0x400), out


def test_kernel_log_is_clean(dune):
    from dunelab.provisioning import tasks

    problems = tasks().dmesg_problems(dune.chan.connection, dune.mark)
    assert problems == [], "\n".join(problems)


def test_module_unloads_after_all_dune_processes_ended(dune):
    from dunelab.provisioning import tasks

    r = tasks().uninstall_module(dune.chan.connection)
    assert r.exited == 0, r.stderr
    assert dune.chan.run("test -e /dev/dune", hide=True, warn=True).exited != 0
