"""dune.ko is as safe to load as kvm_intel (issue 11): who may open /dev/dune, coexistence with KVM in
both load orders, resources released when threads exit, kernel memory flat under churn, and the
speculative-execution mitigations the kernel chose. Every step reads the kernel log for WARN/BUG/oops.

Runs after test_dune_guest.py (which ends by unloading dune.ko): each test loads what it needs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dunelab.scenarios import LIBDUNE_TESTS as GUEST_DIR

pytestmark = [pytest.mark.vm, pytest.mark.dune]

UNPRIV_DIR = "/tmp/dune-unpriv"
RULES = "/lib/udev/rules.d/60-dune.rules"
KVM_MODULES = ("virt/lib/irqbypass.ko", "arch/x86/kvm/kvm.ko", "arch/x86/kvm/kvm-intel.ko")


def _assert_clean(dune, mark: str, what: str) -> None:
    problems = dune.log_problems(mark)
    assert problems == [], f"kernel log after {what}:\n" + "\n".join(problems)


@pytest.fixture()
def clean_log(dune):
    """The test body runs, then the kernel log since its start must hold no WARN/BUG/oops/lockup."""
    mark = dune.new_mark()
    yield mark
    _assert_clean(dune, mark, "this test")


@pytest.fixture(scope="module")
def kvm_intel(dune, running_lab):
    """kvm_intel (with kvm, irqbypass) from the booted image, where modprobe finds it: the Bochs
    guest's initramfs carries only the modules it boots with."""
    image = running_lab.lab.booted_image()
    moddir = f"/lib/modules/{image.kernel_release}/kernel"
    c = dune.chan.connection
    for rel in KVM_MODULES:
        c.run(f"mkdir -p {moddir}/{rel.rsplit('/', 1)[0]}", hide=True)
        c.put(str(Path(image.rootfs) / moddir.lstrip("/") / rel), f"{moddir}/{rel}")
    c.run(f"depmod -a {image.kernel_release}", hide=True)
    yield
    _kvm_unloaded(dune)


def _kvm(dune) -> str:
    """KVM_CREATE_VM once: "KVM OK" or "KVM <errno name>"."""
    return dune.run(f"{GUEST_DIR}/guest/kvm_coexist create", timeout=300).stdout.strip()


def _kvm_unloaded(dune) -> None:
    dune.chan.run("modprobe -r kvm_intel kvm irqbypass 2>/dev/null; true", hide=True)


def _reload_dune(dune) -> None:
    dune.chan.run("modprobe -r dune; modprobe dune", hide=True)


# ------------------------------------------------------------------ access


def test_dev_dune_is_root_only_unless_granted_to_group_dune(dune, clean_log):
    """dune.ko creates /dev/dune 0600 root:root; an unprivileged user cannot open it. The rule that
    grants it to group "dune" (as the kvm group gets /dev/kvm) is installed; the Bochs guest has no
    udev to apply it, so its effect (group dune, 0660) is applied by hand: then a member of the
    group runs Dune programs and anyone else is still refused."""
    _reload_dune(dune)
    assert dune.chan.run("stat -c '%a %U %G' /dev/dune", hide=True).stdout.split() == ["600", "root", "root"]
    rule = dune.chan.run(f"cat {RULES}", hide=True).stdout
    assert re.search(r'^KERNEL=="dune", SUBSYSTEM=="misc", GROUP="dune", MODE="0660"$', rule, re.M), rule
    gid = dune.chan.run("grep '^dune:' /etc/group | cut -d: -f3", hide=True).stdout.strip()
    assert gid.isdigit(), "no group dune"
    dune.chan.run(f"rm -rf {UNPRIV_DIR} && mkdir -m 755 {UNPRIV_DIR} && "
                  f"cp {GUEST_DIR}/guest/hello {UNPRIV_DIR}/hello && chmod 755 {UNPRIV_DIR}/hello", hide=True)
    nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
    member = f"setpriv --reuid=65534 --regid=65534 --groups={gid}"

    def refused():
        r = dune.run(f"{nobody} {UNPRIV_DIR}/hello", timeout=300)
        out = r.stdout + r.stderr
        assert r.exited != 0 and "cannot open /dev/dune: Permission denied" in out, out

    refused()
    r = dune.run(f"{member} {UNPRIV_DIR}/hello", timeout=300)
    assert r.exited != 0, "a group member got in while /dev/dune is root-only"
    try:
        dune.chan.run("chgrp dune /dev/dune && chmod 0660 /dev/dune", hide=True)   # what the rule does
        refused()
        r = dune.run(f"{member} {UNPRIV_DIR}/hello", timeout=300)
        assert r.exited == 0 and re.search(r"^PASS hello", r.stdout, re.M), r.stdout + r.stderr
    finally:
        _reload_dune(dune)


# ------------------------------------------------------------------ kvm_intel


def _kvm_coexist(dune) -> str:
    r = dune.run(f"{GUEST_DIR}/guest/kvm_coexist", timeout=600)
    out = r.stdout + r.stderr
    assert r.exited == 0 and re.search(r"^PASS kvm_coexist$", out, re.M), out[-3000:]
    return out


HOLDER = "/tmp/dune-holder.pid"


def _holder(dune) -> None:
    """A Dune process that keeps a vCPU (so dune.ko holds VMX) until _holder_stop()."""
    dune.chan.run(f"{GUEST_DIR}/guest/getpid_rt 2000000000 >/dev/null 2>&1 & echo $! > {HOLDER}; sleep 2",
                  hide=True)


def _holder_stop(dune) -> None:
    dune.chan.run(f"p=$(cat {HOLDER}); kill -KILL $p; while kill -0 $p 2>/dev/null; do sleep 0.2; done",
                  hide=True, warn=True)


def test_kvm_intel_loads_while_dune_holds_vmx_then_they_take_turns(dune, kvm_intel, clean_log):
    """dune.ko first: kvm_intel loads while a Dune vCPU exists (no WARN: dune.ko hands the kernel's
    single emergency-virt slot over), KVM gets EBUSY while Dune holds VMX, and once the Dune process
    is gone KVM gets VMX; then guest/kvm_coexist has them take turns both ways."""
    _kvm_unloaded(dune)
    dune.ensure_loaded()
    _holder(dune)
    try:
        assert dune.chan.run(f"kill -0 $(cat {HOLDER})", hide=True, warn=True).exited == 0, "no Dune process"
        assert dune.chan.run("modprobe kvm_intel", hide=True, warn=True).exited == 0
        _assert_clean(dune, clean_log, "modprobe kvm_intel while Dune holds VMX")
        assert _kvm(dune) == "KVM EBUSY"
    finally:
        _holder_stop(dune)
    assert _kvm(dune) == "KVM OK"       # no vCPU left: VMX is free
    _kvm_coexist(dune)


def test_dune_loads_after_kvm_intel_and_outlives_it(dune, kvm_intel, clean_log):
    """kvm_intel first: dune.ko loads, takes turns with KVM, keeps working when kvm_intel goes away
    (dune.ko then holds the emergency-virt slot itself) and when it comes back."""
    _kvm_unloaded(dune)
    dune.chan.run("modprobe -r dune && modprobe kvm_intel && modprobe dune", hide=True)
    _kvm_coexist(dune)
    _kvm_unloaded(dune)
    r = dune.run(f"{GUEST_DIR}/guest/hello", timeout=300)
    assert r.exited == 0, r.stdout + r.stderr
    dune.chan.run("modprobe kvm_intel", hide=True)
    _kvm_coexist(dune)
    _kvm_unloaded(dune)
    assert dune.chan.run("modprobe -r dune", hide=True, warn=True).exited == 0


# ------------------------------------------------------------------ resources


def test_churn_keeps_kernel_memory_flat_and_frees_vmx(dune, kvm_intel, clean_log):
    """guest/churn in a cgroup of its own: its kernel memory is flat across hundreds of map/touch/unmap
    rounds at new guest-physical addresses and dozens of Dune threads; afterwards no vCPU is left, so
    kvm_intel can load and create a VM."""
    dune.ensure_loaded()
    cg = "/sys/fs/cgroup/dune-churn"
    script = ("[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup; "
              "echo +memory > /sys/fs/cgroup/cgroup.subtree_control; "
              f"mkdir -p {cg} && echo $$ > {cg}/cgroup.procs && exec {GUEST_DIR}/guest/churn 768")
    r = dune.sh(script, timeout=1800)
    out = r.stdout + r.stderr
    dune.chan.run(f"rmdir {cg}", hide=True, warn=True)
    assert r.exited == 0 and re.search(r"^PASS churn$", out, re.M), out[-3000:]
    assert "cgroup kernel memory" in out, out[-3000:]
    print("\n" + "\n".join(line for line in out.splitlines() if line.startswith("churn:")))
    _kvm_unloaded(dune)
    dune.chan.run("modprobe kvm_intel", hide=True)
    assert _kvm(dune) == "KVM OK"
    _kvm_unloaded(dune)


# ------------------------------------------------------------------ mitigations


def test_load_line_names_the_mitigations_the_kernel_chose(dune, clean_log):
    """dune.ko says which VM entry/exit mitigations it applies; they must match what the kernel
    reports for the CPU's vulnerabilities (sysfs)."""
    _reload_dune(dune)
    log = dune.log_since(clean_log)
    m = re.search(r"dune: VM entry/exit mitigations:(.*)$", log, re.M)
    assert m, log[-2000:]
    ours = set(m.group(1).split())
    vuln = dune.chan.run("grep . /sys/devices/system/cpu/vulnerabilities/*", hide=True).stdout
    print("\n" + m.group(0) + "\n" + vuln)
    files = dict(line.split(":", 1) for line in vuln.splitlines())
    files = {k.rsplit("/", 1)[1]: v for k, v in files.items()}
    clears = any("Clear CPU buffers" in files.get(k, "") for k in
                 ("mds", "tsx_async_abort", "mmio_stale_data", "reg_file_data_sampling"))
    assert ("verw" in ours) == clears, (ours, files)
    l1tf = files.get("l1tf", "")
    if l1tf.startswith("Mitigation") and "VMX: flush not necessary" not in l1tf \
            and "l1tf=off" not in dune.chan.run("cat /proc/cmdline", hide=True).stdout:
        assert any(w.startswith("l1d-flush") for w in ours), (ours, l1tf)
    if "BHI: SW loop" in files.get("spectre_v2", ""):
        assert "bhb-clear" in ours, (ours, files["spectre_v2"])
    if "IBPB before exit to userspace" in files.get("vmscape", ""):
        assert "ibpb-exit-to-user" in ours, (ours, files["vmscape"])
