"""CLI failure modes: each is one line naming the cause, exit status 2, and nothing is started."""

from __future__ import annotations

import socket

import pytest

from dunelab import cli, hostinfo


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    cap = capsys.readouterr()
    return code, (cap.out + cap.err).strip()


def one_error_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("dunelab: error: ")
    return lines[0]


def test_malformed_lab_yaml(capsys, write_yaml, tmp_home):
    path = write_yaml("lab.yaml", "name: x\ncpus: many\n")
    code, out = run(capsys, "up", "--lab", str(path))
    assert code == 2
    assert one_error_line(out).endswith(f"{path}: cpus: must be an integer, got str 'many'")


def test_missing_bochs(capsys, write_yaml, tmp_home, monkeypatch):
    real = hostinfo.probe
    monkeypatch.setattr(hostinfo, "probe", lambda *a, **k: real(which=lambda t: t, bochs=lambda: None))
    from dunelab.backends import bochs_build

    monkeypatch.setattr(bochs_build, "missing_tools", lambda: ["g++", "make"])
    path = write_yaml("lab.yaml", "name: x\nbackend: bochs\n")
    code, out = run(capsys, "up", "--lab", str(path))
    assert code == 2
    assert "Bochs 3.0 is not built and cannot be: g++, make missing" in one_error_line(out)


def test_occupied_ssh_port(capsys, write_yaml, tmp_home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        path = write_yaml("lab.yaml", f"name: x\nbackend: qemu-tcg\nssh: {{port: {port}}}\n")
        code, out = run(capsys, "up", "--lab", str(path))
    assert code == 2
    line = one_error_line(out)
    assert f"SSH port {port} is already in use" in line and "ssh.port" in line
    assert not (tmp_home / "labs" / "x" / "state.json").exists()


def test_exec_needs_a_running_lab(capsys, write_yaml, tmp_home):
    path = write_yaml("lab.yaml", "name: x\n")
    code, out = run(capsys, "exec", "--lab", str(path), "--", "true")
    assert code == 2 and "is not up" in out


def test_down_when_not_up_is_fine(capsys, write_yaml, tmp_home):
    path = write_yaml("lab.yaml", "name: x\n")
    code, out = run(capsys, "down", "--lab", str(path))
    assert code == 0 and "not up" in out


def test_exec_without_command(capsys, write_yaml, tmp_home):
    path = write_yaml("lab.yaml", "name: x\n")
    code, out = run(capsys, "exec", "--lab", str(path), "--")
    assert code == 2 and "exec needs a command" in out


@pytest.mark.parametrize("argv", [["doctor"], ["status"]])
def test_informational_commands_succeed(capsys, tmp_home, argv):
    code, out = run(capsys, *argv)
    assert code == 0 and out
