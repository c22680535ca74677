"""dune.ko is as safe to load as kvm_intel (issue 11): who may open /dev/dune, coexistence with KVM in
both load orders, resources released when threads exit, kernel memory flat under churn, and the
speculative-execution mitigations the kernel chose. Every step reads the kernel log for WARN/BUG/oops.

Runs after test_dune_guest.py (which ends by unloading dune.ko): each test loads what it needs.
"""

from __future__ import annotations

import re
import shlex

import pytest

from dunelab.selftest import GUEST_DIR

pytestmark = [pytest.mark.vm, pytest.mark.dune]

UNPRIV_DIR = "/tmp/dune-unpriv"
RULES = "/lib/udev/rules.d/60-dune.rules"

# A KVM VM: KVM_CREATE_VM (_IO(0xAE, 1)) turns VMX on on every CPU (6.1 enables virtualization per VM).
# `hold` keeps the VM until stdin closes; `once` creates and closes one. Prints OK or the errno name.
KVM_PY = r"""
import errno, fcntl, os, sys
try:
    kvm = os.open('/dev/kvm', os.O_RDWR)
    vm = fcntl.ioctl(kvm, 0xAE01, 0)
except OSError as e:
    print('KVM', errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(1)
print('KVM OK', flush=True)
if sys.argv[1] == 'hold':
    sys.stdin.read()
"""


def _kvm(dune, mode: str = "once") -> str:
    return dune.sh(f"python3 -c {shlex.quote(KVM_PY)} {mode} </dev/null", timeout=300).stdout.strip()


def _assert_clean(dune, mark: str, what: str) -> None:
    problems = dune.log_problems(mark)
    assert problems == [], f"kernel log after {what}:\n" + "\n".join(problems)


@pytest.fixture()
def clean_log(dune):
    """The test body runs, then the kernel log since its start must hold no WARN/BUG/oops/lockup."""
    mark = dune.new_mark()
    yield mark
    _assert_clean(dune, mark, "this test")


def _kvm_unloaded(dune) -> None:
    dune.chan.run("modprobe -r kvm_intel kvm 2>/dev/null; true", hide=True)


# ------------------------------------------------------------------ access


def test_dev_dune_is_root_only_unless_in_group_dune(dune, clean_log):
    dune.ensure_loaded()
    assert dune.chan.run("stat -c '%a %U %G' /dev/dune", hide=True).stdout.split() == ["660", "root", "dune"]
    dune.chan.run(f"rm -rf {UNPRIV_DIR} && mkdir -m 755 {UNPRIV_DIR} && "
                  f"install -m 755 {GUEST_DIR}/guest/hello {UNPRIV_DIR}/hello", hide=True)
    nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env"
    r = dune.run(f"{nobody} {UNPRIV_DIR}/hello", timeout=300)
    out = r.stdout + r.stderr
    assert r.exited != 0 and "cannot open /dev/dune: Permission denied" in out, out
    gid = dune.chan.run("getent group dune | cut -d: -f3", hide=True).stdout.strip()
    member = f"setpriv --reuid=nobody --regid=nogroup --groups={gid} --reset-env"
    r = dune.run(f"{member} {UNPRIV_DIR}/hello", timeout=300)
    assert r.exited == 0 and re.search(r"^PASS hello", r.stdout, re.M), r.stdout + r.stderr


def test_without_the_udev_rule_dev_dune_is_root_only(dune, clean_log):
    dune.ensure_loaded()
    try:
        dune.chan.run(f"mv {RULES} {RULES}.off && udevadm control --reload && modprobe -r dune && "
                      "modprobe dune && udevadm settle", hide=True)
        assert dune.chan.run("stat -c '%a %U %G' /dev/dune", hide=True).stdout.split() == ["600", "root", "root"]
    finally:
        dune.chan.run(f"mv {RULES}.off {RULES}; udevadm control --reload; modprobe -r dune; modprobe dune; "
                      "udevadm settle", hide=True, warn=True)


# ------------------------------------------------------------------ kvm_intel


def _kvm_coexist(dune) -> str:
    r = dune.run(f"{GUEST_DIR}/guest/kvm_coexist", timeout=600)
    out = r.stdout + r.stderr
    assert r.exited == 0 and re.search(r"^PASS kvm_coexist$", out, re.M), out[-3000:]
    return out


def _holder(dune) -> None:
    """A Dune process that keeps a vCPU (so dune.ko holds VMX) for a while, in the background."""
    dune.chan.run(f"(timeout -s KILL 600 {GUEST_DIR}/guest/getpid_rt 100000000 >/dev/null 2>&1 &) ; "
                  "sleep 1", hide=True)


def _holder_stop(dune) -> None:
    dune.chan.run("pkill -KILL -x getpid_rt; while pgrep -x getpid_rt >/dev/null; do sleep 0.2; done",
                  hide=True, warn=True)


def test_kvm_intel_loads_while_dune_holds_vmx_then_they_take_turns(dune, clean_log):
    """dune.ko first: kvm_intel loads (no WARN: the emergency-virt slot is handed over) while a Dune
    vCPU exists, then KVM and Dune each get a clear EBUSY while the other holds VMX."""
    _kvm_unloaded(dune)
    dune.ensure_loaded()
    _holder(dune)
    try:
        assert dune.chan.run("pgrep -x getpid_rt", hide=True, warn=True).exited == 0, "no Dune process"
        assert dune.chan.run("modprobe kvm_intel", hide=True, warn=True).exited == 0
        assert _kvm(dune) == "KVM EBUSY"
    finally:
        _holder_stop(dune)
    _kvm_coexist(dune)
    assert _kvm(dune) == "KVM OK"       # no vCPU left: VMX is free
    _assert_clean(dune, clean_log, "kvm_intel loaded after dune.ko")
    _kvm_unloaded(dune)


def test_dune_loads_after_kvm_intel_and_outlives_it(dune, clean_log):
    """kvm_intel first: dune.ko loads, takes turns with KVM, and stays correct when kvm_intel goes
    away (dune.ko then owns the emergency-virt slot again) and when it comes back."""
    _kvm_unloaded(dune)
    dune.chan.run("modprobe -r dune", hide=True)
    dune.chan.run("modprobe kvm_intel && modprobe dune && udevadm settle", hide=True)
    _kvm_coexist(dune)
    _kvm_unloaded(dune)
    r = dune.run(f"{GUEST_DIR}/guest/hello", timeout=300)
    assert r.exited == 0, r.stdout + r.stderr
    dune.chan.run("modprobe kvm_intel", hide=True)
    _kvm_coexist(dune)
    _kvm_unloaded(dune)


# ------------------------------------------------------------------ resources


def test_churn_keeps_kernel_memory_flat_and_frees_vmx(dune, clean_log):
    """guest/churn in a cgroup of its own: its kernel memory is flat across hundreds of map/touch/unmap
    rounds at new guest-physical addresses and dozens of Dune threads; afterwards no vCPU is left, so
    kvm_intel can load and create a VM."""
    dune.ensure_loaded()
    cg = "/sys/fs/cgroup/dune-churn"
    script = (f"mkdir -p {cg} && echo $$ > {cg}/cgroup.procs && "
              f"exec {GUEST_DIR}/guest/churn 768")
    r = dune.sh(script, timeout=1800)
    out = r.stdout + r.stderr
    dune.chan.run(f"rmdir {cg}", hide=True, warn=True)
    assert r.exited == 0 and re.search(r"^PASS churn$", out, re.M), out[-3000:]
    print("\n" + "\n".join(line for line in out.splitlines() if line.startswith("churn:")))
    _kvm_unloaded(dune)
    dune.chan.run("modprobe kvm_intel", hide=True)
    assert _kvm(dune) == "KVM OK"
    _kvm_unloaded(dune)


# ------------------------------------------------------------------ mitigations


def test_load_line_names_the_mitigations_the_kernel_chose(dune, clean_log):
    """dune.ko says which VM entry/exit mitigations it applies; they must match what the kernel
    reports for the CPU's vulnerabilities (sysfs)."""
    dune.chan.run("modprobe -r dune; modprobe dune && udevadm settle", hide=True)
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
