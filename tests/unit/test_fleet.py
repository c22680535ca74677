"""A fleet run with fake hosts: every host runs the real stages and row runner over a fake connection,
and one host that cannot be reached, one that drops out mid-run, one that looks like bare metal and
one whose stage has a bug are each recorded without spoiling the others; then the merged report."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import fabric
import paramiko
import pytest

from dunelab import cli, fleet, pipeline
from dunelab.artifacts import Artifacts
from dunelab.fleet import HostChannel, RemoteHost, SudoConnection, host_facts, run_fleet
from dunelab.images import Image
from dunelab.inventory import load_inventory
from dunelab.records import ERROR, PASSED, RunRecord
from dunelab.scenarios import load_scenario

KERNEL = "6.1.0-56-amd64"
SCENARIO = """\
name: demo
build: none
rows:
  - {name: one, program: /bin/echo, args: [PASS, one], expect: {pass: "^PASS"}}
  - {name: two, program: /bin/echo, args: [PASS, two], expect: {pass: "^PASS"}}
  - {name: three, program: /bin/echo, args: [PASS, three], expect: {pass: "^PASS"}}
  - {name: dune, program: /bin/true, needs: [vmx, dune]}
"""


@dataclass
class Result:
    stdout: str
    stderr: str = ""
    exited: int = 0


def facts(virt="qemu", hypervisor=1, kernel=KERNEL, uid=0) -> str:
    return f"kernel={kernel}\nuid={uid}\nvirt={virt}\nhypervisor={hypervisor}\nbox=\n"


class FakeConn:
    """Answers the commands the stages and the runner send; `script(cmd)` may return a Result, raise,
    or return None for the defaults."""

    def __init__(self, script=None, virt="qemu", hypervisor=1):
        self.script = script or (lambda cmd, n: None)
        self.commands: list[str] = []
        self.facts = facts(virt, hypervisor)

    def run(self, cmd, hide=True, warn=True, timeout=None, **kw):
        self.commands.append(cmd)
        r = self.script(cmd, len(self.commands))
        if isinstance(r, BaseException):
            raise r
        if r is not None:
            return r
        if cmd == fleet.FACTS_SCRIPT:
            return Result(self.facts)
        if cmd.startswith("cat /proc/cpuinfo"):
            return Result("processor\t: 0\nmodel name\t: QEMU TCG CPU\nflags\t\t: fpu sse2 svm hypervisor\n")
        if "timeout -s KILL" in cmd:
            return Result(cmd.split("/bin/echo ", 1)[1] + "\n" if "/bin/echo" in cmd else "")
        return Result("")


class FakeChannel:
    def __init__(self, conn):
        self.conn = conn

    @property
    def connection(self):
        return self.conn

    def run(self, cmd, timeout=None, hide=False, warn=True, pty=False):
        return self.conn.run(cmd, hide=hide, warn=warn, timeout=timeout)

    def close(self):
        pass


class FakeHost(RemoteHost):
    def __init__(self, spec, image, conn, alive=True):
        super().__init__(spec, image)
        self.conn, self.alive = conn, alive

    def channel(self):
        return FakeChannel(self.conn)

    def running(self):
        return {"banner": "SSH-2.0-fake"} if self.alive else None


@pytest.fixture
def image(tmp_path) -> Image:
    return Image(name="bookworm", key="cafe" * 16, dir=tmp_path, kernel=tmp_path / "vmlinuz",
                 initrd=tmp_path / "initrd", disk=tmp_path / "disk.qcow2", rootfs=tmp_path / "rootfs",
                 kernel_release=KERNEL, manifest=tmp_path / "manifest.json")


@pytest.fixture
def plan(tmp_path):
    d = tmp_path / "scenarios" / "demo"
    d.mkdir(parents=True)
    (d / "scenario.yaml").write_text(SCENARIO)
    s = load_scenario(d)
    return [(s, list(s.rows))]


def fake_build(ctx):
    if ctx.lab.host.name == "buggy":
        raise ValueError("a bug in a stage")
    d = Path("/nonexistent")
    ctx.artifacts = Artifacts(dir=d, key="k" * 64, kmod=d / "dune.ko", libdune=d, guest_tests=[], hostile_tests=[],
                              payloads=[])
    return "fake artifacts"


STAGES = [("connect", fleet.stage_connect), ("check-vmx", pipeline.stage_check_vmx), ("build", fake_build),
          ("scenarios", pipeline.stage_scenarios)]


def test_failures_stay_with_their_host_and_the_report_has_a_column_each(tmp_path, tmp_home, write_yaml, image,
                                                                         plan):
    inv = load_inventory(write_yaml("fleet.yaml", """
hosts:
  - {name: good, address: 10.0.0.1, host_key_policy: first-use}
  - {name: drops, address: 10.0.0.2, host_key_policy: first-use}
  - {name: refused, address: 10.0.0.3, host_key_policy: first-use}
  - {name: iron, address: 10.0.0.4, host_key_policy: first-use}
  - {name: buggy, address: 10.0.0.5, host_key_policy: first-use}
"""))

    def drops(cmd, n):   # the second row's command finds the host gone
        if "timeout -s KILL" in cmd and "two" in cmd:
            return EOFError("the VM was killed")

    conns = {"good": FakeConn(), "drops": FakeConn(drops),
             "refused": FakeConn(lambda cmd, n: OSError(111, "Connection refused")),
             "iron": FakeConn(virt="none", hypervisor=0), "buggy": FakeConn()}
    hosts = {}

    def make_host(spec):
        hosts[spec.name] = FakeHost(spec, image, conns[spec.name], alive=spec.name != "drops")
        return hosts[spec.name]

    out = tmp_path / "run"
    result = run_fleet(inv, plan, out_dir=out, stages=STAGES, make_host=make_host, prepared={})
    by = {h.name: h for h in result.hosts}
    assert [h.name for h in result.hosts] == ["good", "drops", "refused", "iron", "buggy"]
    assert not result.success and by["good"].success
    assert (by["refused"].failed_stage, by["iron"].failed_stage, by["buggy"].failed_stage) == \
        ("connect", "connect", "internal")
    assert "cannot connect" in by["refused"].reason and "Connection refused" in by["refused"].reason
    assert "looks like bare metal" in by["iron"].reason and "--bare-metal" in by["iron"].reason
    assert "ValueError: a bug in a stage" in by["buggy"].reason
    assert by["drops"].failed_stage == "scenarios"

    good = RunRecord.load(out / "good")
    assert [(r.row, r.status) for r in good.rows] == [("one", PASSED), ("two", PASSED), ("three", PASSED),
                                                      ("dune", "skipped")]
    assert good.env.clock == "emulated" and good.env.guest_kernel == KERNEL and good.success
    dropped = {r.row: r for r in RunRecord.load(out / "drops").rows}
    assert dropped["one"].status == PASSED                                 # kept
    assert dropped["two"].status == ERROR and "SSH connection lost" in dropped["two"].reason
    assert dropped["three"].reason == "not run: the VM died"               # nobody waited for it
    assert not (out / "refused" / "rows").exists() and RunRecord.load(out / "refused").rows == []
    # iron got no further than its facts: nothing was installed or run there
    assert conns["iron"].commands == [fleet.FACTS_SCRIPT]

    meta = json.loads((out / "fleet.json").read_text())
    assert meta["schema"] == fleet.FLEET_SCHEMA and meta["success"] is False
    assert [h["name"] for h in meta["hosts"]] == ["good", "drops", "refused", "iron", "buggy"]
    md = (out / "report.md").read_text()
    assert "| row | good | drops | refused | iron | buggy |" in md
    assert "| one | passed | passed | not run | not run | not run |" in md
    assert "| three | passed | error: not run: the VM died | not run | not run | not run |" in md
    assert "## Hosts that did not pass" in md and "### iron — stage connect failed" in md
    assert (out / "report.html").read_text().count("<table") >= 3
    assert (out / "good" / "report.html").is_file()                       # each host keeps its own report

    (out / "report.md").unlink()
    assert cli.main(["report", str(out)]) == 0 and (out / "report.md").read_text() == md


def test_facts_of_a_host(image):
    f = host_facts(FakeConn())
    assert (f.kernel, f.virt, f.hypervisor_flag, f.uid, f.box) == (KERNEL, "qemu", True, 0, {})
    assert not f.looks_bare_metal
    assert host_facts(FakeConn(virt="none")).looks_bare_metal
    assert host_facts(FakeConn(virt="docker")).looks_bare_metal          # a container shares its host's kernel
    assert not host_facts(FakeConn(virt="kvm")).looks_bare_metal
    unknown = FakeConn(lambda cmd, n: Result("kernel=5.10\nuid=0\nvirt=unknown\nhypervisor=0\nbox={\"name\": \"x\"}\n"))
    f = host_facts(unknown)
    assert f.looks_bare_metal and f.box == {"name": "x"}
    no_sudo = FakeConn(lambda cmd, n: Result("", "sudo: a password is required\n", 1))
    with pytest.raises(fleet.DunelabError, match="passwordless sudo"):
        host_facts(no_sudo)


def test_a_host_on_another_kernel_cannot_take_the_image_artifacts(tmp_path, write_yaml, image, plan):
    inv = load_inventory(write_yaml("f.yaml", "hosts:\n  - {name: other, address: x, host_key_policy: first-use}\n"))
    conn = FakeConn(lambda cmd, n: Result(facts(kernel="6.8.0-31-generic")) if cmd == fleet.FACTS_SCRIPT else None)
    result = run_fleet(inv, plan, out_dir=tmp_path / "r", stages=STAGES[:1],
                       make_host=lambda spec: FakeHost(spec, image, conn), prepared={})
    assert "runs kernel 6.8.0-31-generic" in result.hosts[0].reason and "remote-build" in result.hosts[0].reason


class Recorder:
    def __init__(self):
        self.config = fabric.Config()
        self.commands, self.puts, self.gets = [], [], []

    def run(self, cmd, **kw):
        self.commands.append(cmd)
        return Result("")

    def put(self, local, remote, preserve_mode=True):
        self.puts.append(remote)

    def get(self, remote, local):
        self.gets.append(remote)

    is_connected = True


def test_sudo_connection_runs_as_root_and_fabric_tasks_take_it():
    raw = Recorder()
    c = SudoConnection(raw)
    c.run("modprobe dune && echo 'it''s'", hide=True)
    assert raw.commands[-1] == "sudo -n -H -- sh -c 'modprobe dune && echo '\"'\"'it'\"'\"''\"'\"'s'\"'\"''"
    c.put(io.BytesIO(b"x"), "/lib/modules/6.1/updates/dune.ko")
    assert raw.puts[-1].startswith("/tmp/dunelab-put-")
    assert raw.commands[-1].startswith("sudo -n -H -- sh -c 'mv -f /tmp/dunelab-put-")
    assert "/lib/modules/6.1/updates/dune.ko && chown root:root" in raw.commands[-1]
    c.get("/root/secret", "/tmp/x")
    assert raw.gets[-1].startswith("/tmp/dunelab-get-") and "rm -f /tmp/dunelab-get-" in raw.commands[-1]
    assert c.is_connected is True                                  # everything else is the connection's
    from dunelab.provisioning import tasks

    assert tasks().dmesg_mark(c).startswith("dunelab-mark-")      # a Fabric @task accepts it


def test_first_use_records_the_host_key_and_pins_it(tmp_home, tmp_path, write_yaml, monkeypatch):
    from dunelab.sshkeys import ensure_keypair

    key = paramiko.Ed25519Key.from_private_key_file(str(ensure_keypair(tmp_path / "hostkey", "test").private))
    monkeypatch.setattr(fleet, "fetch_host_key", lambda address, port, timeout: key)
    inv = load_inventory(write_yaml("f.yaml", "hosts:\n  - {name: a, address: 10.9.9.9, port: 2222, "
                                              "host_key_policy: first-use}\n"))
    ch = HostChannel(inv.hosts[0])
    ch._prepare_known_hosts()
    kh = inv.hosts[0].known_hosts
    assert kh.read_text() == f"[10.9.9.9]:2222 ssh-ed25519 {key.get_base64()}\n"
    monkeypatch.setattr(fleet, "fetch_host_key", lambda *a: pytest.fail("asked again"))
    ch._prepare_known_hosts()                                          # known now: never fetched again
    conn = ch._new_connection()
    assert isinstance(conn.client._policy, paramiko.RejectPolicy)
    assert conn.client.get_host_keys().lookup("[10.9.9.9]:2222")["ssh-ed25519"].get_base64() == key.get_base64()


def test_a_pinned_host_key_from_the_inventory(tmp_home, write_yaml):
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    inv = load_inventory(write_yaml("f.yaml", f"hosts:\n  - {{name: b, address: h.example, host_key: '{line} c'}}\n"))
    HostChannel(inv.hosts[0])._prepare_known_hosts()
    assert inv.hosts[0].known_hosts.read_text() == f"h.example {line}\n"


def test_cli_bare_metal_needs_hosts_and_the_inventory_flag(write_yaml, capsys):
    assert cli.main(["run", "--bare-metal", "selftest"]) == 2
    assert "--bare-metal only goes with --hosts" in capsys.readouterr().err
    inv = write_yaml("iron.yaml", "hosts:\n  - {name: iron, address: 192.0.2.1, bare_metal: true}\n")
    assert cli.main(["run", "--hosts", str(inv), "selftest"]) == 2          # refused before any connection
    err = capsys.readouterr().err
    assert "BARE METAL: iron (root@192.0.2.1)" in err and "Pass --bare-metal" in err
