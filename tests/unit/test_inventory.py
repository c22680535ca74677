"""Inventories: a good file becomes HostSpecs; a bad one names file, field and reason before any SSH."""

from __future__ import annotations

import pytest

from dunelab import inventory
from dunelab.errors import ConfigError
from dunelab.inventory import check_bare_metal, load_inventory

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture
def key(tmp_path):
    k = tmp_path / "id_ed25519"
    k.write_text("not really a key; only its existence is checked here\n")
    return k


def test_a_good_inventory(write_yaml, key, tmp_path, tmp_home):
    kh = tmp_path / "known"
    kh.write_text("")
    inv = load_inventory(write_yaml("inv.yaml", f"""
defaults:
  user: debian
  key: {key.name}
  connect_timeout: 60
hosts:
  - name: lab-a
    address: 127.0.0.1
    port: 10022
    user: root
    known_hosts: known
  - name: xeon-1
    address: xeon1.example.org
    host_key: {ED25519} root@xeon1
    artifacts: remote-build
    bare_metal: true
  - name: cloud
    address: 10.0.0.9
    host_key_policy: first-use
    clock: hardware
"""))
    a, x, c = inv.hosts
    assert (a.user, a.port, a.key, a.known_hosts, a.connect_timeout) == ("root", 10022, key, kh, 60)
    assert a.target == "root@127.0.0.1:10022" and a.known_hosts_name == "[127.0.0.1]:10022"
    assert a.artifacts == "image" and a.image.name == "bookworm.yaml" and a.clock == "auto"
    assert (x.user, x.artifacts, x.image, x.bare_metal) == ("debian", "remote-build", None, True)
    assert x.known_hosts == tmp_home / "fleet/known_hosts/xeon-1" and x.host_key.startswith("ssh-ed25519 ")
    assert x.known_hosts_name == "xeon1.example.org"
    assert c.known_hosts == tmp_home / "fleet/known_hosts/first-use" and c.clock == "hardware"
    assert [h.name for h in inv.bare_metal] == ["xeon-1"] and inv.host("cloud") is c


@pytest.mark.parametrize(("text", "field", "reason"), [
    ("hosts: []\n", "hosts", "at least one host"),
    ("hostz: []\n", "hostz", "unknown field"),
    ("hosts:\n  - name: a\n", "hosts[0].address", "is required"),
    ("hosts:\n  - name: A B\n    address: x\n", "hosts[0].name", "a-z, 0-9"),
    ("hosts:\n  - {name: a, address: x}\n  - {name: a, address: y}\n", "hosts[1].name",
     "duplicate host name 'a' (also hosts[0])"),
    ("hosts:\n  - {name: a, address: x, port: 70000}\n", "hosts[0].port", "at most 65535"),
    ("hosts:\n  - {name: a, address: x, prot: 22}\n", "hosts[0].prot", "unknown field"),
    ("hosts:\n  - {name: a, address: 'x y'}\n", "hosts[0].address", "host name or an IP"),
    ("hosts:\n  - {name: a, address: x, artifacts: copy}\n", "hosts[0].artifacts", "image, remote-build"),
    ("hosts:\n  - {name: a, address: x, host_key: ssh-ed25519}\n", "hosts[0].host_key", "TYPE BASE64"),
    ("hosts:\n  - {name: a, address: x, host_key: 'ssh-dss AAAA'}\n", "hosts[0].host_key", "not one of"),
    ("hosts:\n  - {name: a, address: x, host_key: 'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMq'}\n", "hosts[0].host_key",
     "not a ssh-rsa key"),
    ("hosts:\n  - {name: a, address: x, key: nope}\n", "hosts[0].key", "no such file"),
    ("hosts:\n  - {name: a, address: x, known_hosts: nope}\n", "hosts[0].known_hosts", "host_key_policy: first-use"),
    (f"hosts:\n  - {{name: a, address: x, known_hosts: k, host_key: '{ED25519}'}}\n", "hosts[0].host_key",
     "not both"),
    ("hosts:\n  - {name: a, address: x, image: images/nope.yaml}\n", "hosts[0].image", "does not exist"),
    ("defaults: {port: -1}\nhosts:\n  - {name: a, address: x}\n", "defaults.port", "at least 1"),
    ("defaults: {name: a}\nhosts:\n  - {address: x}\n", "defaults.name", "unknown field"),
    ("hosts:\n  - just-a-name\n", "hosts[0]", "must be a mapping"),
    ("hosts: [\n", "line 2", "invalid YAML"),
])
def test_errors_name_file_field_and_reason(write_yaml, text, field, reason):
    path = write_yaml("inv.yaml", text)
    with pytest.raises(ConfigError) as e:
        load_inventory(path)
    assert e.value.file == str(path)
    assert e.value.field.startswith(field), str(e.value)
    assert reason in e.value.reason, str(e.value)


def test_defaults_apply_and_hosts_override(write_yaml):
    inv = load_inventory(write_yaml("inv.yaml", "defaults: {user: ubuntu, port: 2222}\nhosts:\n"
                                                 "  - {name: a, address: x}\n  - {name: b, address: y, port: 22}\n"))
    assert [(h.user, h.port) for h in inv.hosts] == [("ubuntu", 2222), ("ubuntu", 22)]


def test_bare_metal_needs_the_flag_and_says_so_loudly(write_yaml):
    inv = load_inventory(write_yaml("inv.yaml", "hosts:\n  - {name: vm, address: x}\n"
                                                 "  - {name: iron, address: y, bare_metal: true}\n"))
    with pytest.raises(ConfigError) as e:
        check_bare_metal(inv, allowed=False)
    assert e.value.field == "hosts[1].bare_metal"
    assert "BARE METAL: iron (root@y)" in str(e.value) and "--bare-metal" in str(e.value)
    assert "loaded into the kernel of this machine itself, not into a VM" in str(e.value)
    check_bare_metal(inv, allowed=True)
    check_bare_metal(load_inventory(write_yaml("vm.yaml", "hosts:\n  - {name: vm, address: x}\n")), allowed=False)


def test_host_key_problems():
    assert inventory.host_key_problem(ED25519) is None
    assert "base64" in inventory.host_key_problem("ssh-ed25519 !!!!")
