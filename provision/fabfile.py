"""Fabric tasks that install Dune into a lab guest.

Every task takes a fabric Connection first, so they run from `dunelab provision` (which passes the
lab's pinned connection) or directly with Fabric's own CLI:

    fab -r provision -H root@127.0.0.1:10022 -i .dunelab/labs/default/id_ed25519 \
        install-module --ko .dunelab/build/<image>-<key>/dune.ko

Artifacts are built on the host (dunelab.artifacts); nothing is compiled in the guest.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from fabric import task

GUEST_TEST_DIR = "/root/dune-tests"
GUEST_SCENARIO_DIR = "/root/dunelab/scenarios"   # dunelab.scenarios.GUEST_ROOT
# Kernel log lines that mean the module hurt the host kernel.
DMESG_PROBLEMS = (r"Oops|BUG:|WARNING:|general protection|soft lockup|hard LOCKUP|Call Trace|RIP: 0010|"
                  r"kernel panic|refcount_t:|list_(add|del) corruption|page allocation failure")


# After loading a module: a guest with udev applies its rules (60-dune.rules) to the new device node
# before we look at it; the Bochs guest has no udev.
UDEV_SETTLE = "(! command -v udevadm >/dev/null || udevadm settle)"


@task
def install_udev(c, udev):
    """The udev rule and the "dune" group that grant /dev/dune (src/kmod/udev), as DKMS installs them."""
    c.run("rm -rf /tmp/dune-udev && mkdir -p /tmp/dune-udev", hide=True)
    for p in sorted(Path(udev).iterdir()):
        c.put(str(p), f"/tmp/dune-udev/{p.name}")
    c.run("sh /tmp/dune-udev/install.sh && rm -rf /tmp/dune-udev", hide=True)


@task
def install_module(c, ko, udev=None):
    """Install dune.ko the Debian way (updates/ + depmod), load it, and check /dev/dune exists.
    With `udev` (the src/kmod/udev directory) the rule granting /dev/dune to group "dune" comes first."""
    if udev:
        install_udev(c, udev)
    release = c.run("uname -r", hide=True).stdout.strip()
    dest = f"/lib/modules/{release}/updates/dune.ko"
    c.run(f"mkdir -p /lib/modules/{release}/updates", hide=True)
    c.put(str(ko), dest)
    c.run("modprobe -r dune 2>/dev/null || true", hide=True)
    c.run(f"depmod -a {release} && modprobe dune && {UDEV_SETTLE}", hide=True)
    c.run("test -c /dev/dune", hide=True)
    info = c.run("cat /sys/module/dune/srcversion 2>/dev/null; ls -l /dev/dune", hide=True).stdout.strip()
    return info


@task
def load_kvm(c, module="kvm_amd"):
    """The guest kernel's own KVM for libdune's KVM back end (DUNE_BACKEND=kvm): kvm_intel or kvm_amd,
    nested=1 (harmless for Dune, which runs its process as KVM's guest; it lets that guest use VT-x/SVM
    in turn). Checks that /dev/kvm appears."""
    if module not in ("kvm_intel", "kvm_amd"):
        raise ValueError(f"load_kvm: {module!r} is not kvm_intel or kvm_amd")
    c.run(f"modprobe {module} nested=1 && {UDEV_SETTLE}", hide=True)
    c.run("test -c /dev/kvm", hide=True)
    return c.run(f"cat /sys/module/{module}/parameters/nested; ls -l /dev/kvm", hide=True).stdout.strip()


@task
def uninstall_module(c):
    """Unload dune; fails (non-zero) while a Dune process still holds /dev/dune."""
    return c.run("modprobe -r dune", hide=True, warn=True)


def _put_tree(c, files, dest, replace=False):
    """Upload `files` (arcname -> local path, or a directory to pack whole) as one tarball and unpack it
    at `dest`: one SFTP transfer and one command, instead of one of each per file (seconds, not a
    minute, when the guest is emulated)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if isinstance(files, (str, Path)):
            tar.add(str(files), arcname=".")
        else:
            for arcname, local in files.items():
                info = tar.gettarinfo(str(local), arcname=arcname)
                info.mode = 0o755
                with open(local, "rb") as f:
                    tar.addfile(info, f)
    buf.seek(0)
    tmp = f"/tmp/dunelab-upload-{os.urandom(4).hex()}.tar.gz"
    c.put(buf, tmp)
    clear = f"rm -rf {dest} && " if replace else ""
    c.run(f"{clear}mkdir -p {dest} && tar -C {dest} -xzf {tmp}; r=$?; rm -f {tmp}; exit $r",
          hide=True)


@task
def install_libdune(c, tree):
    """Unpack the libdune install tree (include/, lib/) under /usr/local in the guest."""
    _put_tree(c, tree, "/usr/local")
    c.run("ldconfig 2>/dev/null || true", hide=True)


@task
def install_tests(c, programs, kind="guest"):
    """Upload test programs to /root/dune-tests/<kind>/ (replacing what was there), executable."""
    d = f"{GUEST_TEST_DIR}/{kind}"
    _put_tree(c, {Path(p).name: p for p in programs}, d, replace=True)
    return [f"{d}/{Path(p).name}" for p in programs]


@task
def install_scenario(c, name, programs):
    """Replace /root/dunelab/scenarios/<name>/ with `programs` (a scenario's built executables)."""
    d = f"{GUEST_SCENARIO_DIR}/{name}"
    _put_tree(c, {Path(p).name: p for p in programs}, d, replace=True)
    return [f"{d}/{Path(p).name}" for p in programs]


@task
def dmesg_mark(c):
    """Write a marker into the kernel log so later checks only see what came after it."""
    mark = f"dunelab-mark-{os.urandom(6).hex()}"
    c.run(f"echo {mark} > /dev/kmsg", hide=True)
    return mark


def _dmesg_since(c, mark):
    out = c.run("dmesg", hide=True).stdout
    return out.split(mark, 1)[1] if mark in out else out


@task
def dmesg_since(c, mark):
    """Kernel log lines after `mark`."""
    return _dmesg_since(c, mark)


def log_problems(text):
    """Lines of a kernel log (dmesg, or a guest's console) that show an oops, BUG, WARN, lockup or panic."""
    import re

    return [line for line in text.splitlines() if re.search(DMESG_PROBLEMS, line)]


@task
def dmesg_problems(c, mark):
    """Lines after `mark` that show an oops, BUG, WARN, lockup or panic (empty when healthy)."""
    return log_problems(_dmesg_since(c, mark))


# ---- hosts without VMX, and hosts that build Dune themselves (dunelab run --hosts) -----------------
@task
def stage_module(c, ko):
    """Install dune.ko for the running kernel (updates/ + depmod) without loading it, for a host whose
    CPU has no VMX: the files are in place and `check_module_refuses` proves the module says so."""
    release = c.run("uname -r", hide=True).stdout.strip()
    dest = f"/lib/modules/{release}/updates/dune.ko"
    c.run(f"mkdir -p /lib/modules/{release}/updates", hide=True)
    c.put(str(ko), dest)
    c.run(f"depmod -a {release}", hide=True)
    return dest


@task
def check_module_refuses(c):
    """On a CPU without VMX, `modprobe dune` must fail with "No such device" (ENODEV), leave no /dev/dune
    and nothing alarming in the kernel log. Returns modprobe's message; raises RuntimeError otherwise."""
    mark = dmesg_mark.body(c)
    r = c.run("modprobe dune", hide=True, warn=True)
    msg = (r.stderr or r.stdout).strip().splitlines()
    msg = msg[-1] if msg else ""
    if r.exited == 0:
        c.run("modprobe -r dune", hide=True, warn=True)
        raise RuntimeError("dune.ko loaded on a CPU that shows no VMX")
    if "No such device" not in msg:
        raise RuntimeError(f"modprobe dune failed, but not with ENODEV: {msg}")
    if c.run("test -e /dev/dune", hide=True, warn=True).exited == 0:
        raise RuntimeError("/dev/dune exists although dune.ko did not load")
    bad = log_problems(_dmesg_since(c, mark))
    if bad:
        raise RuntimeError(f"the refused load left this in the kernel log: {bad[0]}")
    return msg


REMOTE_BUILD_DIR = "/root/dunelab/build"
# Runs on the host as root, in the unpacked sources ($W): the same makes as dunelab.artifacts runs in an
# image's rootfs, against the host's own headers, and the same output layout (then fetched back).
REMOTE_BUILD_SCRIPT = r"""
set -u
W=$1
cd "$W" || exit 2
r=${2:-$(uname -r)}
log=$W/out/build.log
mkdir -p out/tests out/scenarios
step() { echo "\$ $*" >> "$log"; "$@" >> "$log" 2>&1; }
if [ ! -d "/lib/modules/$r/build" ]; then
    echo "no kernel headers for $r on this host (/lib/modules/$r/build): install linux-headers-$r" >&2
    exit 3
fi
for tool in make gcc; do
    command -v $tool >/dev/null || { echo "$tool is not installed on this host (build-essential)" >&2; exit 3; }
done
step make -C "/lib/modules/$r/build" M="$W/src/kmod" modules || { tail -n 15 "$log" >&2; exit 4; }
step make -C src/libdune all || { tail -n 15 "$log" >&2; exit 4; }
step make -C src/libdune install PREFIX=/usr/local DESTDIR="$W/stage" || { tail -n 15 "$log" >&2; exit 4; }
step make -C src/libdune tests || { tail -n 15 "$log" >&2; exit 4; }
cp src/kmod/dune.ko out/ && cp -a stage/usr/local out/libdune || exit 4
for kind in guest hostile payload; do
    [ -d "src/libdune/build/tests/$kind" ] && cp -a "src/libdune/build/tests/$kind" out/tests/
done
for d in scenarios/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    slog=$W/out/build-$n.log
    if make -C "$d" all O="$W/scenario-out/$n" DUNE_PREFIX="$W/stage/usr/local" > "$slog" 2>&1; then
        mkdir -p "out/scenarios/$n"
        find "$W/scenario-out/$n" -maxdepth 1 -type f -perm -u+x -exec cp {} "out/scenarios/$n/" \;
    else
        { echo "make -C scenarios/$n failed on $(hostname) ($r); log $slog:"; tail -n 15 "$slog"; } \
            > "out/scenarios/$n.failed"
    fi
done
tar -C out -czf "$W.artifacts.tar.gz" .
"""


@task
def remote_build(c, sources, key, release=""):
    """Build dune.ko, libdune, its test programs and the scenarios on the host itself, against its own
    kernel headers (of `release`, default the running kernel) and toolchain. `sources` is a local
    .tar.gz of src/kmod, src/libdune and scenarios/NAME (fetch hooks already run). Returns the remote
    path of the artifacts tarball (dunelab.artifacts' layout); raises RuntimeError with the build
    log's tail on failure."""
    w = f"{REMOTE_BUILD_DIR}/{key}"
    c.run(f"rm -rf {w} {w}.artifacts.tar.gz && mkdir -p {w}", hide=True)
    c.put(str(sources), f"{w}.sources.tar.gz")
    c.run(f"tar -C {w} -xzf {w}.sources.tar.gz && rm -f {w}.sources.tar.gz", hide=True)
    script = f"{w}.build.sh"
    c.put(io.BytesIO(REMOTE_BUILD_SCRIPT.encode()), script)
    r = c.run(f"sh {script} {w} {release}".rstrip(), hide=True, warn=True)
    if r.exited != 0:
        raise RuntimeError(f"the build on the host failed (exit {r.exited}): {(r.stderr or r.stdout).strip()[-1500:]}")
    return f"{w}.artifacts.tar.gz"


@task
def remote_clean(c, key):
    """Remove a remote build's sources, outputs and tarball."""
    w = f"{REMOTE_BUILD_DIR}/{key}"
    c.run(f"rm -rf {w} {w}.artifacts.tar.gz {w}.build.sh", hide=True, warn=True)
