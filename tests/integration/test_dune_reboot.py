"""dune.ko's reboot notifier under load (issue 11, item 8): a guest that reboots while Dune threads
keep entering and leaving VMX on both CPUs gets to "reboot: Restarting system" with no oops, WARN
or hang. The notifier sets "rebooting" and leaves VMX on every CPU while new vCPUs may be doing their
first VMXON; vmx_hw.c serialises the two.

A reboot ends the guest, so this test boots a lab of its own (a restore of the default lab's saved
state, seconds) beside the session's, installs dune.ko there, and takes it down at the end. The
verdict comes from the guest's console (the kernel log is gone with the guest)."""

from __future__ import annotations

import time

import pytest

from dunelab.scenarios import LIBDUNE_TESTS as GUEST_DIR

from .conftest import default_lab_copy, dunelab_cli

pytestmark = [pytest.mark.vm, pytest.mark.dune]

RESTARTING = "reboot: Restarting system"
# Dune threads that keep creating vCPUs (VMXON on first use of a CPU) and exiting, on both CPUs.
LOAD = (f"while :; do {GUEST_DIR}/guest/thread >/dev/null 2>&1 & {GUEST_DIR}/guest/hello >/dev/null 2>&1 & "
        f"{GUEST_DIR}/guest/migrate >/dev/null 2>&1; wait; done")


@pytest.fixture()
def reboot_lab(running_lab, tmp_path):
    if not running_lab.lab.state()["guest_has_vmx"]:
        pytest.skip(f"{running_lab.backend} guests have no VMX: Dune cannot run there")
    lab, path = default_lab_copy(f"itest-reboot-{running_lab.backend}", running_lab.backend,
                                 tmp_path / "reboot.yaml")
    up = dunelab_cli("up", "--lab", str(path), timeout=lab.spec.boot_timeout + 900)
    assert up.returncode == 0, up.stdout + up.stderr
    yield lab
    down = dunelab_cli("down", "--lab", str(path))
    assert down.returncode == 0, down.stdout + down.stderr


def test_reboot_while_dune_threads_enter_vmx(reboot_lab):
    from dunelab.provisioning import build, install_dune, tasks

    install_dune(reboot_lab, build(reboot_lab))
    c = reboot_lab.channel().connection

    def dune_users() -> int:
        return int(c.run("cat /sys/module/dune/refcnt", hide=True).stdout.strip() or 0)

    c.run(f"nohup sh -c '{LOAD}' >/dev/null 2>&1 &", hide=True)
    # Wait until Dune threads are really running (the module is in use), then mark the log.
    deadline = time.monotonic() + 300
    while dune_users() == 0:
        assert time.monotonic() < deadline, "no Dune process came up within 300 s"
        time.sleep(1)
    time.sleep(5)                             # a few rounds of vCPU create/exit
    mark = tasks().dmesg_mark(c)
    users = dune_users()
    assert users > 0, "dune.ko had no users when the reboot was about to start: the load did not run"
    # reboot(2) directly (busybox's -f): the kernel runs the reboot notifiers, then restarts.
    c.run("(sleep 1; busybox reboot -f) >/dev/null 2>&1 &", hide=True)
    reboot_lab.channel().close()

    deadline = time.monotonic() + 300
    text = after = ""
    while RESTARTING not in after and time.monotonic() < deadline:
        time.sleep(2)
        text = reboot_lab.console_log.read_text(errors="replace")
        after = text.split(mark, 1)[1] if mark in text else ""
    assert RESTARTING in after, (f"the guest did not reach '{RESTARTING}' within 300 s of `reboot -f` "
                                 f"with {users} Dune user(s) of dune.ko; console tail:\n{text[-3000:]}")
    problems = tasks().log_problems(after.split(RESTARTING, 1)[0])
    assert problems == [], "kernel log between the reboot and the restart:\n" + "\n".join(problems)
