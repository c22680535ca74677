"""Process identity and group kill; SSH key generation and host-key pinning files."""

from __future__ import annotations

import subprocess
import time

import paramiko

from dunelab import vmproc
from dunelab.channel import Endpoint, pick_free_port, port_is_free
from dunelab.sshkeys import ensure_keypair, known_hosts_line


def test_spawn_and_kill_whole_group(tmp_path):
    # A parent whose child ignores SIGTERM: killing must take both (emulator helpers live in the group too).
    popen, ref = vmproc.spawn(["sh", "-c", "(trap '' TERM; sleep 300) & echo $! > child.pid; wait"],
                              tmp_path / "log", tmp_path)
    for _ in range(50):
        if (tmp_path / "child.pid").exists() and (tmp_path / "child.pid").read_text().strip():
            break
        time.sleep(0.1)
    child = int((tmp_path / "child.pid").read_text())
    assert vmproc.alive(ref)
    assert child in vmproc.group_members(ref.pid)
    vmproc.kill(ref, grace=1, popen=popen)
    assert not vmproc.alive(ref)
    assert vmproc.group_members(ref.pid) == []


def test_pid_reuse_is_not_mistaken_for_our_vm():
    popen = subprocess.Popen(["sleep", "30"])
    try:
        real = vmproc.ProcessRef(popen.pid, vmproc._start_ticks(popen.pid))
        assert vmproc.alive(real)
        assert not vmproc.alive(vmproc.ProcessRef(popen.pid, real.start_ticks + 1))
    finally:
        popen.kill()
        popen.wait()
    assert not vmproc.alive(real)


def test_keypair_is_valid_openssh_ed25519_and_stable(tmp_path):
    kp = ensure_keypair(tmp_path / "id_ed25519", "test")
    assert (kp.private.stat().st_mode & 0o777) == 0o600
    key = paramiko.Ed25519Key.from_private_key_file(str(kp.private))
    assert kp.public_line.split()[1] == key.get_base64()
    again = ensure_keypair(tmp_path / "id_ed25519", "test")
    assert again.public_line == kp.public_line


def test_known_hosts_pins_the_host_key(tmp_path):
    kp = ensure_keypair(tmp_path / "host", "h")
    (tmp_path / "known_hosts").write_text(known_hosts_line("127.0.0.1", 10022, kp))
    hk = paramiko.HostKeys(str(tmp_path / "known_hosts"))
    entry = hk.lookup("[127.0.0.1]:10022")
    assert entry is not None and entry["ssh-ed25519"].get_base64() == kp.public_line.split()[1]
    assert known_hosts_line("h", 22, kp).startswith("h ssh-ed25519 ")


def test_ssh_config_block(tmp_path):
    ep = Endpoint("127.0.0.1", 2222, "root", tmp_path / "k", tmp_path / "kh")
    cfg = paramiko.SSHConfig.from_text(ep.ssh_config("dunelab-x")).lookup("dunelab-x")
    assert cfg["hostname"] == "127.0.0.1" and cfg["port"] == "2222" and cfg["user"] == "root"
    assert cfg["stricthostkeychecking"] == "yes" and cfg["userknownhostsfile"] == str(tmp_path / "kh")


def test_port_probe():
    import socket

    port = pick_free_port()
    assert port_is_free(port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not port_is_free(port)
