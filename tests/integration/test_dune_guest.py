"""Dune in the lab guest: the module loads, libdune's programs run in VMX non-root ring 0 with real
effects, hostile programs end cleanly, the kernel log stays clean and the module unloads.

Runs only where the guest has VMX (Bochs, or QEMU/KVM with nested VMX); elsewhere it says so.
"""

from __future__ import annotations

import re
import shlex

import pytest

from dunelab.selftest import GUEST_DIR, judge

from .conftest import PROGRAM_TIMEOUT

pytestmark = [pytest.mark.vm, pytest.mark.dune]


def _names(kind: str) -> list[str]:
    """Test program names, from the sources so collection needs no build."""
    from dunelab import PROJECT_ROOT

    return sorted(p.stem for p in (PROJECT_ROOT / "src/libdune/tests" / kind).glob("*.c"))


def test_dev_dune_is_misc_233(dune):
    out = dune.chan.run("stat -c '%F %t:%T' /dev/dune", hide=True).stdout.strip()
    assert out == "character special file a:e9"  # misc major 10, minor 233


@pytest.mark.parametrize("name", _names("guest"))
def test_guest_program(dune, name):
    """Each prints PASS and exits 0; `exitcode` must end with status 42 (exit status propagation).
    The kernel log after each program must be clean."""
    mark = dune.new_mark()
    r = dune.run(f"{GUEST_DIR}/guest/{name}")
    out = r.stdout + r.stderr
    assert judge(name, r.exited, out), f"{name} exited {r.exited}:\n{out[-3000:]}"
    problems = dune.log_problems(mark)
    assert problems == [], f"kernel log after guest/{name}:\n" + "\n".join(problems)


def test_two_dune_processes_at_once(dune):
    script = (f"{GUEST_DIR}/guest/syscall > /tmp/a.out 2>&1 & a=$!; "
              f"{GUEST_DIR}/guest/thread > /tmp/b.out 2>&1 & b=$!; "
              "wait $a; ra=$?; wait $b; rb=$?; cat /tmp/a.out /tmp/b.out; echo status $ra $rb")
    r = dune.chan.run(f"timeout -s KILL {PROGRAM_TIMEOUT} sh -c {shlex.quote(script)}", hide=True, warn=True,
                      timeout=PROGRAM_TIMEOUT + 60)
    assert r.stdout.strip().endswith("status 0 0"), r.stdout[-3000:]
    assert len(re.findall(r"^PASS\b", r.stdout, re.M)) == 2, r.stdout[-3000:]


# The status each hostile program must end with (src/libdune/README.md): 125 = libdune saw an EPT
# violation or unhandled VM exit, 128 + signal = an unhandled exception in the guest. The guest runs
# with CR0.WP, so rowrite's write faults in the guest (139), never only in the EPT.
HOSTILE_STATUS = {"triplefault": 125, "wildcr3": 125, "ud2": 132, "int3storm": 133, "rowrite": 139, "mmio": 125}


@pytest.mark.parametrize("name", _names("hostile"))
def test_hostile_program_ends_cleanly(dune, name):
    """Each ends with its exact status, the host stays up, and the kernel log after it is clean."""
    expected = HOSTILE_STATUS.get(name)
    assert expected is not None, f"hostile/{name}.c has no expected status in HOSTILE_STATUS"
    mark = dune.new_mark()
    r = dune.run(f"{GUEST_DIR}/hostile/{name}", timeout=600)
    assert r.exited == expected, f"{name}: expected status {expected}, got {r.exited}\n{r.stdout}{r.stderr}"
    # The host is still healthy and the module still serves new Dune processes.
    assert dune.chan.run("true", hide=True).exited == 0
    problems = dune.log_problems(mark)
    assert problems == [], f"kernel log after hostile/{name}:\n" + "\n".join(problems)


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
