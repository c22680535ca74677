"""The seed cpio and the newc writer: what cpio(1) reads back is what was written."""

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from dunelab.errors import ConfigError
from dunelab.images.cpio import CpioWriter
from dunelab.images.image import Image
from dunelab.images.seed import boot_initrd, write_seed_cpio

needs_cpio = pytest.mark.skipif(not shutil.which("cpio"), reason="cpio(1) not installed")


def _seed(tmp_path: Path) -> Path:
    (tmp_path / "hk").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n")
    (tmp_path / "hk.pub").write_text("ssh-ed25519 AAAAhost lab\n")
    return write_seed_cpio(tmp_path / "seed.cpio", "ssh-ed25519 AAAAclient me@host",
                           tmp_path / "hk", tmp_path / "hk.pub", "lab1")


def _cpio(args: list[str], data: bytes, cwd: Path | None = None) -> str:
    return subprocess.run(["cpio", *args], input=data, capture_output=True, check=True, cwd=cwd).stdout.decode()


@needs_cpio
def test_seed_lists_with_cpio(tmp_path):
    seed = _seed(tmp_path)
    names = _cpio(["-it"], seed.read_bytes()).split()
    assert names == ["dunelab", "dunelab/seed", "dunelab/seed/authorized_keys",
                     "dunelab/seed/ssh_host_ed25519_key", "dunelab/seed/ssh_host_ed25519_key.pub",
                     "dunelab/seed/hostname"]
    listing = _cpio(["-itv"], seed.read_bytes())
    assert "-rw-------" in listing.splitlines()[3]          # private host key stays private


@needs_cpio
def test_seed_round_trips(tmp_path):
    seed = _seed(tmp_path)
    out = tmp_path / "x"
    out.mkdir()
    _cpio(["-id", "--quiet"], seed.read_bytes(), cwd=out)
    s = out / "dunelab/seed"
    assert (s / "authorized_keys").read_text() == "ssh-ed25519 AAAAclient me@host\n"
    assert (s / "ssh_host_ed25519_key").read_bytes() == (tmp_path / "hk").read_bytes()
    assert (s / "hostname").read_text() == "lab1\n"
    assert stat.S_IMODE((s / "ssh_host_ed25519_key").stat().st_mode) == 0o600


def test_seed_is_reproducible(tmp_path):
    a = _seed(tmp_path).read_bytes()
    assert _seed(tmp_path).read_bytes() == a
    assert len(a) % 4 == 0 and a[:6] == b"070701"


@pytest.mark.parametrize("hostname", ["", "bad_name", "a" * 64, "-x"])
def test_bad_hostname(tmp_path, hostname):
    (tmp_path / "k").write_text("k")
    with pytest.raises(ConfigError, match="hostname"):
        write_seed_cpio(tmp_path / "s", "ssh-ed25519 A", tmp_path / "k", tmp_path / "k", hostname)


def test_empty_authorized_keys(tmp_path):
    (tmp_path / "k").write_text("k")
    with pytest.raises(ConfigError, match="authorized_keys"):
        write_seed_cpio(tmp_path / "s", "  \n", tmp_path / "k", tmp_path / "k", "lab")


@needs_cpio
def test_writer_tree_symlinks_nodes_and_parents(tmp_path):
    tree = tmp_path / "t"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/prog").write_bytes(b"\x7fELF" + b"x" * 13)
    (tree / "usr/bin/prog").chmod(0o755)
    (tree / "bin").symlink_to("usr/bin")
    out = tmp_path / "a.cpio"
    with out.open("wb") as f:
        w = CpioWriter(f)
        w.add_node("dev/console", stat.S_IFCHR | 0o600, 5, 1)
        w.add_file("deep/a/b/file", b"hello")     # parents are emitted automatically
        w.add_tree(tree)
        w.close()
    listing = _cpio(["-itv"], out.read_bytes())
    names = _cpio(["-it"], out.read_bytes()).split()
    assert names == ["dev", "dev/console", "deep", "deep/a", "deep/a/b", "deep/a/b/file", "bin",
                     "usr", "usr/bin", "usr/bin/prog"]
    assert "bin -> usr/bin" in listing
    assert "crw-------" in listing
    x = tmp_path / "x"
    x.mkdir()
    _cpio(["-id", "--quiet", "--no-absolute-filenames", "deep/*", "usr/*"], out.read_bytes(), cwd=x)
    assert (x / "deep/a/b/file").read_bytes() == b"hello"
    assert (x / "usr/bin/prog").stat().st_mode & 0o111


@needs_cpio
def test_boot_initrd_concatenates_on_a_4_byte_boundary(tmp_path):
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\x28\xb5\x2f\xfd" + b"z" * 5)        # odd length on purpose
    img = Image("t", "k", tmp_path, tmp_path / "vmlinuz", initrd, tmp_path / "d", tmp_path, "6.1", tmp_path / "m")
    seed = _seed(tmp_path)
    out = boot_initrd(img, seed, tmp_path / "boot.img")
    data = out.read_bytes()
    assert data.startswith(initrd.read_bytes())
    assert data[12:] == seed.read_bytes() and data[9:12] == b"\0\0\0"
