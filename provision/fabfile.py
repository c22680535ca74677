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
# Kernel log lines that mean the module hurt the host kernel.
DMESG_PROBLEMS = r"Oops|BUG:|WARNING:|general protection|soft lockup|hard LOCKUP|Call Trace|RIP: 0010|kernel panic"


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
    # udevadm: a guest with udev applies 60-dune.rules before we look (the Bochs guest has none).
    c.run(f"depmod -a {release} && modprobe dune && (! command -v udevadm >/dev/null || udevadm settle)",
          hide=True)
    c.run("test -c /dev/dune", hide=True)
    info = c.run("cat /sys/module/dune/srcversion 2>/dev/null; ls -l /dev/dune", hide=True).stdout.strip()
    return info


@task
def uninstall_module(c):
    """Unload dune; fails (non-zero) while a Dune process still holds /dev/dune."""
    return c.run("modprobe -r dune", hide=True, warn=True)


@task
def install_libdune(c, tree):
    """Unpack the libdune install tree (include/, lib/) under /usr/local in the guest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(tree), arcname=".")
    buf.seek(0)
    c.put(buf, "/tmp/libdune.tar.gz")
    c.run("mkdir -p /usr/local && tar -C /usr/local -xzf /tmp/libdune.tar.gz && rm /tmp/libdune.tar.gz", hide=True)
    c.run("ldconfig 2>/dev/null || true", hide=True)


@task
def install_tests(c, programs, kind="guest"):
    """Upload test programs to /root/dune-tests/<kind>/, executable."""
    c.run(f"mkdir -p {GUEST_TEST_DIR}/{kind}", hide=True)
    for p in programs:
        remote = f"{GUEST_TEST_DIR}/{kind}/{Path(p).name}"
        c.put(str(p), remote)
        c.run(f"chmod 755 {remote}", hide=True)
    return [f"{GUEST_TEST_DIR}/{kind}/{Path(p).name}" for p in programs]


@task
def dmesg_mark(c):
    """Write a marker into the kernel log so later checks only see what came after it."""
    mark = f"dunelab-mark-{os.urandom(6).hex()}"
    c.run(f"echo {mark} > /dev/kmsg", hide=True)
    return mark


@task
def dmesg_since(c, mark):
    """Kernel log lines after `mark`."""
    out = c.run("dmesg", hide=True).stdout
    return out.split(mark, 1)[1] if mark in out else out


@task
def dmesg_problems(c, mark):
    """Lines after `mark` that show an oops, BUG, WARN, lockup or panic (empty when healthy)."""
    import re

    return [line for line in dmesg_since(c, mark).splitlines() if re.search(DMESG_PROBLEMS, line)]
