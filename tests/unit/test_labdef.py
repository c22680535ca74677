"""Lab YAML validation: every malformed file is rejected naming file, field and reason."""

from __future__ import annotations

import pytest

from dunelab.errors import ConfigError
from dunelab.labdef import load_lab, resolve_lab_path

from ..conftest import PROJECT_ROOT

GOOD = """
name: t1
backend: bochs
cpus: 2
memory_mb: 512
ssh: {port: 2200}
timeouts: {boot: 60}
"""


def test_default_lab_loads():
    spec = load_lab("default")
    assert spec.name == "default"
    assert spec.backend == "auto"
    assert spec.image == PROJECT_ROOT / "images" / "bookworm.yaml"
    assert spec.ssh_port == 10022


def test_defaults_filled_in(write_yaml):
    spec = load_lab(write_yaml("lab.yaml", GOOD))
    assert (spec.cpus, spec.memory_mb, spec.ssh_port, spec.boot_timeout) == (2, 512, 2200, 60)
    assert spec.command_timeout == 1800 and spec.shutdown_timeout == 30
    assert spec.bochs_cpu_model == "corei7_skylake_x"
    assert spec.qemu_extra_args == ()


@pytest.mark.parametrize("text, field, reason", [
    ("backend: bochs\n", "name", "is required"),
    ("name: x\nbackend: vmware\n", "backend", "must be one of auto, bochs, qemu-kvm, qemu-tcg"),
    ("name: x\ncpus: two\n", "cpus", "must be an integer, got str 'two'"),
    ("name: x\ncpus: 0\n", "cpus", "must be at least 1"),
    ("name: x\ncpus: true\n", "cpus", "must be an integer"),
    ("name: x\nssh: {port: 70000}\n", "ssh.port", "must be at most 65535"),
    ("name: x\nssh: {prot: 22}\n", "ssh.prot", "unknown field"),
    ("name: x\ntimeouts: 5\n", "timeouts", "must be a mapping"),
    ("name: Bad/Name\n", "name", "must be 1-40 of"),
    ("name: x\nqemu: {extra_args: [1]}\n", "qemu.extra_args[0]", "must be a string"),
    ("name: x\nimage: images/nope.yaml\n", "image", "does not exist"),
    ("name: x\nkernel_cmdline: \"a\\nb\"\n", "kernel_cmdline", "single line"),
    ("- just\n- a list\n", "(top level)", "must be a mapping"),
])
def test_malformed_lab_names_file_field_reason(write_yaml, text, field, reason):
    path = write_yaml("bad.yaml", text)
    with pytest.raises(ConfigError) as e:
        load_lab(path)
    assert e.value.file == str(path)
    assert e.value.field == field
    assert reason in e.value.reason
    assert str(e.value).startswith(f"{path}: {field}: ")


def test_yaml_syntax_error_gives_line(write_yaml):
    path = write_yaml("broken.yaml", "name: x\nssh: {port: 1\n")
    with pytest.raises(ConfigError) as e:
        load_lab(path)
    assert e.value.field.startswith("line ")
    assert "invalid YAML" in e.value.reason


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_lab(tmp_path / "absent.yaml")


def test_lab_name_resolves_to_labs_dir():
    assert resolve_lab_path("tcg") == PROJECT_ROOT / "labs" / "tcg.yaml"
    assert str(resolve_lab_path("some/where.yaml")) == "some/where.yaml"
