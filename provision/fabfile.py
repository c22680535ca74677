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


@task
def install_module(c, ko):
    """Install dune.ko the Debian way (updates/ + depmod), load it, and check /dev/dune exists."""
    release = c.run("uname -r", hide=True).stdout.strip()
    dest = f"/lib/modules/{release}/updates/dune.ko"
    c.run(f"mkdir -p /lib/modules/{release}/updates", hide=True)
    c.put(str(ko), dest)
    c.run("modprobe -r dune 2>/dev/null || true", hide=True)
    c.run(f"depmod -a {release} && modprobe dune", hide=True)
    c.run("test -c /dev/dune", hide=True)
    info = c.run("cat /sys/module/dune/srcversion 2>/dev/null; ls -l /dev/dune", hide=True).stdout.strip()
    return info


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


@task
def dmesg_problems(c, mark):
    """Lines after `mark` that show an oops, BUG, WARN, lockup or panic (empty when healthy)."""
    import re

    return [line for line in _dmesg_since(c, mark).splitlines() if re.search(DMESG_PROBLEMS, line)]
