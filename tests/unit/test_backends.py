"""The emulator command lines and config files each backend builds (no emulator is started)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dunelab.backends import BootMedia, get
from dunelab.errors import DunelabError, HostError
from dunelab.hostinfo import HostInfo
from dunelab.labdef import load_lab

MEDIA = BootMedia(kernel=Path("/img/vmlinuz"), initrd=Path("/lab/initrd.img"), disk=Path("/lab/disk.qcow2"),
                  iso=Path("/lab/boot.iso"))


def spec(**kw):
    return dataclasses.replace(load_lab("default"), **kw)


def host(**kw) -> HostInfo:
    base = dict(cpu_vendor="GenuineIntel", cpu_flags=frozenset({"vmx"}), kvm_device=True, kvm_module="kvm_intel",
                kvm_intel_nested=True, tools={t: f"/usr/bin/{t}" for t in ("bochs", "qemu-system-x86_64", "qemu-img")})
    base.update(kw)
    return HostInfo(**base)


def test_bochs_config(tmp_path):
    from dunelab.backends import bochs_build

    plan = get("bochs").plan(spec(cpus=2, memory_mb=768), MEDIA, 10022, tmp_path)
    # dunelab's own Bochs build, by its recipe's path, never whatever `bochs` is on PATH
    assert plan.argv[:2] == [str(bochs_build.binary_path()), "-q"]
    assert "-rc" not in plan.argv          # no debugger in the build: nothing to tell it to continue
    rc = plan.files[tmp_path / "bochsrc"]
    assert "cpu: model=corei7_skylake_x, count=2," in rc
    assert "memory: guest=768, host=768" in rc
    assert 'display_library: rfb, options="timeout=0"' in rc
    assert "sound:" not in rc               # the build has no sound devices; Bochs refuses the option
    assert "speaker: enabled=0" in rc
    assert f"ata1-master: type=cdrom, path={MEDIA.iso}" in rc and "boot: cdrom" in rc
    assert f"com1: enabled=1, mode=file, dev={tmp_path / 'console.log'}" in rc
    assert "slot1=e1000" in rc and "ethmod=slirp" in rc
    assert "ips=120000000" in rc and "clock: sync=slowdown" in rc
    assert set(plan.files) == {tmp_path / "bochsrc", tmp_path / "slirp.conf"}
    slirp = plan.files[tmp_path / "slirp.conf"].splitlines()
    assert slirp[0] == "# slirp config"  # Bochs ignores the file otherwise
    assert slirp[1] == "hostfwd = tcp:127.0.0.1:10022-:22"
    assert plan.console_log == tmp_path / "console.log"


def test_bochs_needs_iso(tmp_path):
    with pytest.raises(ValueError):
        get("bochs").plan(spec(), dataclasses.replace(MEDIA, iso=None), 1, tmp_path)


def test_qemu_tcg_command(tmp_path):
    plan = get("qemu-tcg").plan(spec(cpus=2, memory_mb=1024, kernel_cmdline="quiet"), MEDIA, 2222, tmp_path)
    a = plan.argv
    assert a[0] == "qemu-system-x86_64"
    assert a[a.index("-accel") + 1] == "tcg,thread=single" and a[a.index("-cpu") + 1] == "max"
    assert a[a.index("-smp") + 1] == "2" and a[a.index("-m") + 1] == "1024"
    assert a[a.index("-kernel") + 1] == "/img/vmlinuz" and a[a.index("-initrd") + 1] == "/lab/initrd.img"
    append = a[a.index("-append") + 1]
    assert append.startswith("console=ttyS0,115200") and "dunelab.root=/dev/vda" in append
    assert append.endswith("quiet")
    assert "file=/lab/disk.qcow2,if=virtio,format=qcow2,cache=unsafe" in a
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22" in a
    assert f"unix:{tmp_path / 'qmp.sock'},server=on,wait=off" in a
    assert "-no-reboot" in a


def test_qemu_kvm_command(tmp_path):
    a = get("qemu-kvm").plan(spec(qemu_extra_args=("-s",)), MEDIA, 2222, tmp_path).argv
    assert a[a.index("-accel") + 1] == "kvm" and a[a.index("-cpu") + 1] == "host"
    assert a[-1] == "-s"


def test_vmx_capability_flags():
    assert get("bochs").guest_has_vmx and get("qemu-kvm").guest_has_vmx
    assert not get("qemu-tcg").guest_has_vmx


@pytest.mark.parametrize("backend, info, message", [
    ("bochs", host(tools={}), "Bochs 3.0 is not built and cannot be: g\\+\\+ missing"),
    ("qemu-tcg", host(tools={}), "qemu-system-x86_64 is not installed"),
    ("qemu-kvm", host(kvm_device=False), "needs /dev/kvm"),
    ("qemu-kvm", host(kvm_module="kvm_pvm"), "this host's is kvm_pvm"),
    ("qemu-kvm", host(kvm_intel_nested=False), "nested VMX is off"),
])
def test_check_host_names_the_cause(backend, info, message, monkeypatch):
    from dunelab.backends import bochs_build

    monkeypatch.setattr(bochs_build, "missing_tools", lambda: ["g++"])   # a host that cannot build Bochs
    with pytest.raises(HostError, match=message):
        get(backend).check_host(info)


def test_bochs_root_disk_and_seed_port(tmp_path):
    media = dataclasses.replace(MEDIA, rawdisk=Path("/img/disk.img"), seed_port=4444)
    rc = get("bochs").plan(spec(), media, 10022, tmp_path).files[tmp_path / "bochsrc"]
    # volatile: the cached disk is never written by a guest; its redolog lives with the lab
    journal = tmp_path / "disk.redolog"
    assert f"ata0-master: type=disk, path=/img/disk.img, mode=volatile, journal={journal}" in rc
    slirp = get("bochs").plan(spec(), media, 10022, tmp_path).files[tmp_path / "slirp.conf"].splitlines()
    assert slirp[1:] == ["hostfwd = tcp:127.0.0.1:10022-:22", "hostfwd = tcp:127.0.0.1:4444-:2323"]
    cmdline = get("bochs").cmdline(spec(kernel_cmdline="quiet"), "dunelab.seed=tcp:2323")
    assert "dunelab.root=/dev/sda dunelab.overlay nokaslr idle=halt" in cmdline
    assert cmdline.endswith("dunelab.seed=tcp:2323 quiet")


def test_bochs_without_raw_disk_has_no_second_drive(tmp_path):
    plan = get("bochs").plan(spec(), MEDIA, 10022, tmp_path)
    assert "type=disk" not in plan.files[tmp_path / "bochsrc"]
    assert "2323" not in plan.files[tmp_path / "slirp.conf"]


def test_bochs_restore_plan(tmp_path):
    media = BootMedia(kernel=Path("/k"), initrd=Path("/i"), restore=tmp_path / "restore")
    plan = get("bochs").plan(spec(), media, 10022, tmp_path)
    a = plan.argv
    assert a[a.index("-r") + 1] == str(tmp_path / "restore")
    assert a[a.index("-f") + 1] == str(tmp_path / "restore" / "config")
    assert tmp_path / "bochsrc" not in plan.files  # the state folder's config describes the machine
    assert plan.files[tmp_path / "slirp.conf"].splitlines()[1] == "hostfwd = tcp:127.0.0.1:10022-:22"


def test_bochs_lab_boot_option(tmp_path):
    assert load_lab("default").bochs_boot == "restore"
    p = tmp_path / "l.yaml"
    p.write_text("name: x\n")
    assert load_lab(p).bochs_boot == "restore"           # the default
    for method in ("direct", "iso"):
        p.write_text(f"name: x\nbochs: {{boot: {method}}}\n")
        assert load_lab(p).bochs_boot == method
    p.write_text("name: x\nbochs: {boot: snapshot}\n")
    with pytest.raises(DunelabError, match="boot"):
        load_lab(p)


def test_bochs_vnc_server_is_kept_on_loopback(tmp_path, tmp_home):
    # Bochs' rfb display binds 0.0.0.0 without authentication; every Bochs plan preloads the shim
    from dunelab.backends import loopback

    plan = get("bochs").plan(spec(), MEDIA, 10022, tmp_path)
    assert plan.env == {"LD_PRELOAD": str(loopback.shim_path())}
    restore = get("bochs").plan(spec(), BootMedia(kernel=Path("/k"), initrd=Path("/i"), restore=tmp_path), 1, tmp_path)
    assert restore.env == plan.env


def test_loopback_shim_rewrites_wildcard_binds(tmp_home):
    import shutil
    import subprocess
    import sys

    from dunelab.backends import loopback

    if not shutil.which("gcc"):
        pytest.skip("gcc missing (scripts/bootstrap installs it)")
    shim = loopback.ensure_shim()
    assert shim == loopback.shim_path() and loopback.ensure_shim() == shim     # built once
    probe = ("import socket\n"
             "a = socket.socket(); a.bind(('0.0.0.0', 0))\n"
             "b = socket.socket(socket.AF_INET6); b.bind(('::', 0))\n"
             "c = socket.socket(); c.bind(('127.0.0.1', 0))\n"
             "print(a.getsockname()[0], b.getsockname()[0], c.getsockname()[0])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={"LD_PRELOAD": str(shim), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out == ["127.0.0.1", "::1", "127.0.0.1"]
