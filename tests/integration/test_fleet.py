"""`dunelab run --hosts` against two local QEMU TCG guests acting as hosts, through the real CLI: one
merged report; host b is killed in the middle of a row and is reported as failed, with the rows it
finished kept, while host a's run completes. The rows are the fleet test's own
(tests/integration/fleet_scenarios): quick ones that run without VMX, and one long enough to kill a
host in. Both guests get 1 vCPU, so the two together load the machine like one 2-vCPU lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dunelab import backends, hostinfo, vmproc
from dunelab.errors import HostError
from dunelab.lab import Lab
from dunelab.labdef import load_lab
from dunelab.records import ERROR, PASSED, SKIPPED, RunRecord, validate

from ..conftest import PROJECT_ROOT
from .conftest import dunelab_cli

pytestmark = [pytest.mark.vm, pytest.mark.fleet]

SCENARIOS = PROJECT_ROOT / "tests" / "integration" / "fleet_scenarios"


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    try:
        backends.get("qemu-tcg").check_host(hostinfo.probe())
    except HostError as e:
        pytest.skip(f"qemu-tcg is not usable here: {e}")
    d = tmp_path_factory.mktemp("fleet-labs")
    labs = {}
    for name in ("a", "b"):
        path = d / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": f"itest-fleet-{name}", "backend": "qemu-tcg", "cpus": 1,
                                        "memory_mb": 768, "ssh": {"port": 0}, "timeouts": {"boot": 600}}))
        labs[name] = (Lab(load_lab(path)), path)
        labs[name][0].down()
    t0 = time.monotonic()
    ups = {n: subprocess.Popen([sys.executable, "-m", "dunelab.cli", "up", "--lab", str(p)], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for n, (_, p) in labs.items()}
    outputs = {n: p.communicate(timeout=1500)[0] for n, p in ups.items()}
    print(f"two TCG guests up in {time.monotonic() - t0:.0f}s")
    try:
        for n, p in ups.items():
            assert p.returncode == 0, f"`dunelab up` of guest {n} failed:\n{outputs[n][-3000:]}"
        yield {n: lab for n, (lab, _) in labs.items()}
    finally:
        for lab, p in labs.values():
            st = lab.state()
            assert dunelab_cli("down", "--lab", str(p)).returncode == 0
            if st:
                ref = vmproc.ProcessRef.from_json(st["process"])
                assert not vmproc.alive(ref) and vmproc.group_members(ref.pid) == []


def inventory(guests, path: Path) -> Path:
    hosts = []
    for name, lab in guests.items():
        st = lab.state()
        hosts.append({"name": name, "address": "127.0.0.1", "port": st["ssh_port"], "key": str(lab.dir / "id_ed25519"),
                      "known_hosts": str(lab.dir / "known_hosts"), "backend": "qemu-tcg"})
    path.write_text(yaml.safe_dump({"hosts": hosts}))
    return path


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            pytest.fail(f"`dunelab run --hosts` ended before {what}:\n{proc.stdout.read()[-4000:]}")
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def rows_of(d: Path) -> dict[str, str]:
    try:
        data = json.loads((d / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    return {r["row"]: r["status"] for r in data["rows"]}


@pytest.fixture(scope="module")
def fleet_run(guests, tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet-run")
    inv = inventory(guests, d / "inventory.yaml")
    out = d / "results"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "dunelab.cli", "run", "--hosts", str(inv), "--out", str(out)],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "DUNELAB_SCENARIOS": str(SCENARIOS), "COLUMNS": "200"})
    # b has finished its quick rows and is 45 s into `slow`: kill its emulator outright
    wait_for(lambda: "dune-files" in rows_of(out / "b"), 1200, "host b's first rows", proc)
    time.sleep(5)
    st = guests["b"].state()
    vmproc.kill(vmproc.ProcessRef.from_json(st["process"]), grace=0)
    killed_at = time.monotonic() - t0
    output = proc.communicate(timeout=1200)[0]
    seconds = time.monotonic() - t0
    print(f"fleet run: {seconds:.0f}s; host b killed {killed_at:.0f}s in")
    keep = PROJECT_ROOT / "results" / f"itest-fleet-{d.name}"
    subprocess.run(["cp", "-a", str(out), str(keep)], check=False)
    return out, proc.returncode, output


def test_one_merged_report_with_a_column_per_host(fleet_run):
    out, rc, output = fleet_run
    assert rc == 1, output[-3000:]                      # one host failed: the run says so
    meta = json.loads((out / "fleet.json").read_text())
    assert [h["name"] for h in meta["hosts"]] == ["a", "b"] and meta["success"] is False
    md = (out / "report.md").read_text()
    assert "| row | a | b |" in md and "| stage | a | b |" in md
    assert "### b — stage scenarios failed" in md
    html = (out / "report.html").read_text()
    assert "<th>a</th>" in html and "<th>b</th>" in html
    assert dunelab_cli("report", str(out)).returncode == 0


def test_the_surviving_host_ran_everything(fleet_run):
    out, _, output = fleet_run
    rec = RunRecord.load(out / "a")
    assert validate(json.loads((out / "a" / "results.json").read_text())) == []
    status = {r.row: r for r in rec.rows}
    assert [status[r].status for r in ("kernel", "dune-files", "slow", "after")] == [PASSED] * 4, output[-3000:]
    assert status["dune-hello"].status == SKIPPED and "no VMX" in status["dune-hello"].reason
    assert rec.success and rec.env.clock == "emulated" and rec.env.guest_vmx is False
    stages = {s.name: s for s in rec.stages}
    # the non-VMX check: dune.ko installed for the guest's kernel, and it refuses to load cleanly
    assert "No such device" in stages["install-dune"].detail and stages["install-dune"].status == "ok"
    assert (out / "a" / "kernel.log").stat().st_size > 0


def test_the_killed_host_is_reported_and_keeps_what_it_finished(fleet_run):
    out, _, _ = fleet_run
    meta = {h["name"]: h for h in json.loads((out / "fleet.json").read_text())["hosts"]}
    assert meta["a"]["success"] and not meta["b"]["success"] and meta["b"]["failed_stage"] == "scenarios"
    rows = {r.row: r for r in RunRecord.load(out / "b").rows}
    assert rows["kernel"].status == PASSED and rows["dune-files"].status == PASSED
    assert rows["slow"].status == ERROR and "the VM died" in rows["slow"].reason
    assert rows["after"].status == ERROR and rows["after"].reason == "not run: the VM died"
    assert rows["slow"].seconds < 45                     # nobody waited out the row's timeout
