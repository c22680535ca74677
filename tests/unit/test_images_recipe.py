"""Recipe validation: every mistake names the file, the field and the reason."""

import re
from pathlib import Path

import pytest

from dunelab import PROJECT_ROOT
from dunelab.errors import ConfigError
from dunelab.images.recipe import load_recipe

DEFAULT = PROJECT_ROOT / "images/bookworm.yaml"

MINIMAL = """\
name: t
distribution: {suite: bookworm, extra_suites: [bookworm-security]}
kernel_abi: 6.1.0-56-amd64
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_default_recipe_is_valid():
    r = load_recipe(DEFAULT)
    assert r.name == "bookworm"
    assert r.kernel_abi == "6.1.0-56-amd64"
    assert set(r.data["initramfs"]["load"]) <= set(r.data["initramfs"]["modules"])
    assert "openssh-server" in r.data["packages"]


def test_default_recipe_names_no_mirror():
    # Mirrors come from the host's APT configuration, never from the repository.
    # (a URL, not the letters: the recipe installs lighttpd)
    assert not re.search(r"\b(https?|ftp)://", DEFAULT.read_text())


def test_minimal_recipe_gets_defaults(tmp_path):
    r = load_recipe(_write(tmp_path, MINIMAL))
    assert r.data["distribution"]["variant"] == "minbase"
    assert r.data["initramfs"]["compression"] == "zstd"
    assert r.data["disk"]["size"] == "6G"


@pytest.mark.parametrize("text, field, reason", [
    (MINIMAL.replace("name: t", "name: Bad Name"), "name", "not a lowercase image name"),
    (MINIMAL.replace("6.1.0-56-amd64", "6.1.0-amd64"), "kernel_abi", "not a kernel ABI"),
    (MINIMAL.replace("6.1.0-56-amd64", "6.1"), "kernel_abi", "must be a string"),
    (MINIMAL.replace("kernel_abi: 6.1.0-56-amd64\n", ""), "kernel_abi", "is required"),
    (MINIMAL + "packages: openssh-server\n", "packages", "must be a list"),
    (MINIMAL + "packages: [ok, 'Not A Package']\n", "packages", "not a Debian package name"),
    (MINIMAL + "kernel: x\n", "kernel", "unknown field"),
    (MINIMAL + "initramfs: {compression: lz77}\n", "initramfs.compression", "must be one of"),
    (MINIMAL + "initramfs: {modules: [e1000], load: [ext4]}\n", "initramfs.load[0]", "not listed"),
    (MINIMAL + "initramfs: {binaries: [usr/sbin/sshd]}\n", "initramfs.binaries", "absolute path"),
    (MINIMAL + "disk: {size: 6T}\n", "disk.size", "not a size"),
    (MINIMAL + "disk: {size: 512M}\n", "disk.size", "too small"),
    (MINIMAL.replace("[bookworm-security]", "[trixie-security]"), "distribution.extra_suites[0]",
     "not a suite of bookworm"),
    ("name: [unclosed\n", "line ", "invalid YAML"),
])
def test_errors_name_file_field_and_reason(tmp_path, text, field, reason):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_recipe(path)
    assert e.value.file == str(path)
    assert e.value.field.startswith(field)
    assert reason in e.value.reason
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_recipe(tmp_path / "nope.yaml")


def test_normalized_ignores_comments_and_key_order(tmp_path):
    a = load_recipe(_write(tmp_path, MINIMAL))
    b_path = tmp_path / "b.yaml"
    b_path.write_text("# comment\nkernel_abi: 6.1.0-56-amd64\ndistribution: {extra_suites: "
                      "[bookworm-security], suite: bookworm}\nname: t\n")
    assert a.normalized() == load_recipe(b_path).normalized()
