"""Initramfs helpers that need no root: symlink-faithful copies, module closure, ISO config."""

import os
from pathlib import Path

import pytest

from dunelab.errors import StepError
from dunelab.images.initramfs import _aliases, copy_in, resolve_in, select_modules
from dunelab.images.iso import isolinux_cfg


@pytest.fixture
def rootfs(tmp_path):
    """A merged-/usr tree like Debian's: /lib -> usr/lib, absolute and relative symlinks."""
    r = tmp_path / "rootfs"
    (r / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (r / "usr/lib64").mkdir()
    (r / "usr/bin").mkdir()
    (r / "usr/sbin").mkdir()
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"), ("sbin", "usr/sbin")):
        (r / link).symlink_to(target)
    (r / "usr/lib/x86_64-linux-gnu/libc.so.6").write_text("libc")
    (r / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").write_text("ld")
    (r / "usr/lib64/ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (r / "usr/bin/kmod").write_text("kmod")
    (r / "usr/sbin/modprobe").symlink_to("/bin/kmod")         # absolute: must stay inside the rootfs
    return r


def test_copy_in_recreates_symlink_chain(rootfs, tmp_path):
    stage = tmp_path / "stage"
    (stage / "usr/lib").mkdir(parents=True)
    (stage / "usr/lib64").mkdir()
    copy_in(rootfs, stage, "/lib64/ld-linux-x86-64.so.2")
    assert os.readlink(stage / "lib64") == "usr/lib64"
    assert os.readlink(stage / "usr/lib64/ld-linux-x86-64.so.2") == "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert (stage / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").read_text() == "ld"
    assert os.readlink(stage / "lib") == "usr/lib"


def test_copy_in_missing_path(rootfs, tmp_path):
    with pytest.raises(StepError, match="does not exist in the rootfs"):
        copy_in(rootfs, tmp_path / "stage", "/usr/bin/nope")


def test_resolve_in_keeps_absolute_links_inside_rootfs(rootfs):
    assert resolve_in(rootfs, "/usr/sbin/modprobe") == "/usr/bin/kmod"
    assert resolve_in(rootfs, "/sbin/modprobe") == "/usr/bin/kmod"
    assert resolve_in(rootfs, "/lib64/ld-linux-x86-64.so.2") == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


def _tree(root: Path) -> dict[str, str]:
    """Every entry under root: 'dir', 'link -> TARGET' or the file's text."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = f"link -> {os.readlink(p)}" if p.is_symlink() else "dir" if p.is_dir() else p.read_text()
    return out


def test_copy_in_relative_link(rootfs, tmp_path):
    (rootfs / "usr/sbin/depmod").symlink_to("../bin/kmod")
    stage = tmp_path / "stage"
    copy_in(rootfs, stage, "/usr/sbin/depmod")
    assert _tree(stage) == {"usr": "dir", "usr/bin": "dir", "usr/bin/kmod": "kmod",
                            "usr/sbin": "dir", "usr/sbin/depmod": "link -> ../bin/kmod"}
    assert resolve_in(rootfs, "/usr/sbin/depmod") == "/usr/bin/kmod"


def test_copy_in_through_directory_link(rootfs, tmp_path):
    """/lib -> usr/lib (merged /usr): the stage gets the link, not a second lib/ directory."""
    stage = tmp_path / "stage"
    copy_in(rootfs, stage, "/lib/x86_64-linux-gnu/libc.so.6")
    assert _tree(stage) == {"lib": "link -> usr/lib", "usr": "dir", "usr/lib": "dir",
                            "usr/lib/x86_64-linux-gnu": "dir", "usr/lib/x86_64-linux-gnu/libc.so.6": "libc"}
    # A second path through the same link reuses it.
    copy_in(rootfs, stage, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    assert (stage / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").read_text() == "ld"
    assert resolve_in(rootfs, "/lib/x86_64-linux-gnu/libc.so.6") == "/usr/lib/x86_64-linux-gnu/libc.so.6"


def test_copy_in_absolute_link_through_directory_link(rootfs, tmp_path):
    """/sbin/modprobe: /sbin -> usr/sbin, then usr/sbin/modprobe -> /bin/kmod, then /bin -> usr/bin."""
    stage = tmp_path / "stage"
    copy_in(rootfs, stage, "/sbin/modprobe")
    assert _tree(stage) == {"bin": "link -> usr/bin", "sbin": "link -> usr/sbin", "usr": "dir",
                            "usr/bin": "dir", "usr/bin/kmod": "kmod",
                            "usr/sbin": "dir", "usr/sbin/modprobe": "link -> /bin/kmod"}


def test_copy_in_chain_of_links(rootfs, tmp_path):
    (rootfs / "etc/alternatives").mkdir(parents=True)
    (rootfs / "usr/bin/editor").symlink_to("/etc/alternatives/editor")
    (rootfs / "etc/alternatives/editor").symlink_to("/usr/bin/vi")
    (rootfs / "usr/bin/vi").symlink_to("nvi")
    (rootfs / "usr/bin/nvi").write_text("nvi")
    stage = tmp_path / "stage"
    copy_in(rootfs, stage, "/usr/bin/editor")
    assert _tree(stage) == {"etc": "dir", "etc/alternatives": "dir",
                            "etc/alternatives/editor": "link -> /usr/bin/vi", "usr": "dir", "usr/bin": "dir",
                            "usr/bin/editor": "link -> /etc/alternatives/editor",
                            "usr/bin/nvi": "nvi", "usr/bin/vi": "link -> nvi"}
    assert resolve_in(rootfs, "/usr/bin/editor") == "/usr/bin/nvi"


def test_absolute_link_never_reaches_the_host(rootfs, tmp_path):
    """/etc/passwd exists on the host, not in this rootfs: a link to it must not pick up the host's."""
    (rootfs / "usr/bin/hostfile").symlink_to("/etc/passwd")
    assert resolve_in(rootfs, "/usr/bin/hostfile") == "/etc/passwd"
    with pytest.raises(StepError, match="/etc/passwd does not exist in the rootfs"):
        copy_in(rootfs, tmp_path / "stage", "/usr/bin/hostfile")


def test_copy_in_directory_keeps_its_links(rootfs, tmp_path):
    (rootfs / "usr/share/terminfo/l").mkdir(parents=True)
    (rootfs / "usr/share/terminfo/l/linux").write_text("linux")
    (rootfs / "usr/share/terminfo/l/linux-16color").symlink_to("linux")
    stage = tmp_path / "stage"
    copy_in(rootfs, stage, "/usr/share/terminfo")
    assert _tree(stage / "usr/share/terminfo") == {"l": "dir", "l/linux": "linux",
                                                   "l/linux-16color": "link -> linux"}


def _chain(rootfs: Path, links: int) -> str:
    """/usr/bin/c0 -> c1 -> ... -> c<links-1> -> kmod: a path that takes `links` symlinks to resolve."""
    for i in range(links):
        (rootfs / f"usr/bin/c{i}").symlink_to(f"c{i + 1}" if i + 1 < links else "kmod")
    return "/usr/bin/c0"


def test_forty_links_resolve(rootfs, tmp_path):
    path = _chain(rootfs, 40)
    assert resolve_in(rootfs, path) == "/usr/bin/kmod"
    copy_in(rootfs, tmp_path / "stage", path)
    assert (tmp_path / "stage/usr/bin/kmod").read_text() == "kmod"


def test_forty_one_links_are_a_loop(rootfs, tmp_path):
    path = _chain(rootfs, 41)
    with pytest.raises(StepError, match="symlink loop resolving /usr/bin/kmod in the rootfs"):
        copy_in(rootfs, tmp_path / "stage", path)
    assert resolve_in(rootfs, path) == "/usr/bin/kmod"   # no error: where resolution stopped


@pytest.mark.parametrize(("links", "start", "stop"), [
    ([("usr/bin/loop", "loop")], "/usr/bin/loop", "/usr/bin/loop"),
    ([("usr/bin/ping", "/usr/bin/pong"), ("usr/bin/pong", "ping")], "/usr/bin/ping", "/usr/bin/pong"),
    # A directory link that leads back through /lib -> usr/lib, forever.
    ([("usr/lib/self", "/lib/self")], "/lib/self/libc.so.6", "/usr/lib/self/libc.so.6"),
])
def test_symlink_loops(rootfs, tmp_path, links, start, stop):
    """41 links in, copy_in gives up with an error and resolve_in returns where it stopped."""
    for link, target in links:
        (rootfs / link).symlink_to(target)
    with pytest.raises(StepError, match=f"symlink loop resolving {stop} in the rootfs"):
        copy_in(rootfs, tmp_path / "stage", start)
    assert resolve_in(rootfs, start) == stop


def test_aliases_follow_links_and_skip_loops(rootfs):
    (rootfs / "usr/bin/lsmod").symlink_to("kmod")
    (rootfs / "usr/bin/loop").symlink_to("loop")
    (rootfs / "usr/bin/other").write_text("other")
    assert _aliases(rootfs, "/usr/bin/kmod") == ["/usr/bin/lsmod", "/usr/sbin/modprobe"]
    assert _aliases(rootfs, "/sbin/modprobe") == ["/usr/bin/lsmod", "/usr/sbin/modprobe"]


def _moddir(tmp_path: Path) -> Path:
    d = tmp_path / "6.1.0-56-amd64"
    d.mkdir()
    (d / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n"
        "kernel/lib/crc16.ko:\nkernel/fs/mbcache.ko:\nkernel/fs/jbd2/jbd2.ko:\n"
        "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko\n"
        "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
        "kernel/net/core/failover.ko:\n"
        "kernel/drivers/char/hw_random/virtio-rng.ko:\n")
    (d / "modules.builtin").write_text("kernel/net/packet/af_packet.ko\n")
    return d


def test_select_modules_closure_aliases_and_builtins(tmp_path):
    files, builtin = select_modules(_moddir(tmp_path), ["ext4", "virtio_net", "virtio_rng", "af_packet"])
    assert files == sorted(["kernel/fs/ext4/ext4.ko", "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko",
                            "kernel/fs/jbd2/jbd2.ko", "kernel/drivers/net/virtio_net.ko",
                            "kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko",
                            "kernel/drivers/char/hw_random/virtio-rng.ko"])
    assert builtin == ["af_packet"]


def test_select_modules_unknown(tmp_path):
    with pytest.raises(StepError, match="e1001"):
        select_modules(_moddir(tmp_path), ["ext4", "e1001"])


def test_isolinux_cfg_boots_without_prompt():
    cfg = isolinux_cfg("console=ttyS0,115200 dunelab.root=/dev/vda")
    assert "PROMPT 0" in cfg and "TIMEOUT 0" in cfg
    assert "  APPEND console=ttyS0,115200 dunelab.root=/dev/vda\n" in cfg
    with pytest.raises(ValueError):
        isolinux_cfg("a\nb")


def test_nothing_opens_the_serial_console_tty(tmp_path):
    """Opening ttyS0 turns the UART's receive interrupts on for good (a console port is never shut
    down), which a restored Bochs machine cannot afford: no /dev/console in the initramfs, and the
    guest's scripts write to /dev/kmsg (only dunelab.break's debugging shell opens the console)."""
    import shutil
    import subprocess

    from dunelab.images.initramfs import pack

    if not shutil.which("gzip") or not shutil.which("cpio"):
        pytest.skip("gzip or cpio missing")
    stage = tmp_path / "stage"
    (stage / "etc").mkdir(parents=True)
    (stage / "etc/hostname").write_text("x\n")
    out = tmp_path / "initrd.img"
    pack(stage, out, "gzip", 1)
    listing = subprocess.run(["sh", "-c", f"gzip -dc {out} | cpio -t 2>/dev/null"], capture_output=True,
                             text=True).stdout.split()
    assert "dev/null" in listing and "dev/console" not in listing
    guest = Path(__file__).resolve().parents[2] / "src/dunelab/guest"
    for name in ("init", "rc.boot", "rc.shutdown", "seed-receive", "start-sshd", "inittab"):
        lines = [ln for ln in (guest / name).read_text().splitlines()
                 if "/dev/console" in ln and not ln.lstrip().startswith("#")]
        assert all("sh </dev/console" in ln for ln in lines), (name, lines)
