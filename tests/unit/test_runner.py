"""The row runner: how an attempt is judged, how metrics are read, and that a run goes on after a
failing row but stops waiting once the VM is gone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from dunelab import runner
from dunelab.records import ERROR, FAILED, PASSED, SKIPPED
from dunelab.runner import judge, parse_output, run, run_rows
from dunelab.scenarios import LabFacts, load_scenario

SCENARIO = """\
name: demo
params:
  emulated: {n: 3}
  hardware: {n: 1000}
rows:
  - name: plain
    program: plain
    expect: {status: 0, pass: "^PASS\\\\b"}
  - name: measured
    program: measured
    args: [--n, "{n}"]
    metrics: [getpid]
  - name: status42
    program: s42
    expect: {status: [42, 43]}
  - name: needs-dune
    program: nd
    needs: [vmx, dune]
  - name: dmesg
    program: dm
    check_kernel_log: true
    repeat: 2
  - name: maybe
    program: mb
    expect: {status: 0, pass: "^PASS\\\\b", skip: "^SKIP\\\\b"}
"""


@pytest.fixture
def scen(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    (d / "scenario.yaml").write_text(SCENARIO)
    return load_scenario(d)


def metric_line(**kw) -> str:
    d = {"name": "getpid", "variant": "dune", "unit": "tsc", "samples": [10, 12, 11], "ops_per_sample": 1,
         "events": {"ops": 3, "exits": {"VMCALL": 3}}}
    d.update(kw)
    return runner.METRIC_PREFIX + json.dumps(d)


# ---- judging ---------------------------------------------------------------------------------

def test_pass_needs_status_pattern_and_no_fail_line(scen):
    plain = scen.row("plain")
    assert judge(plain, 0, "hello\nPASS plain\n")[0] == PASSED
    status, reason, _ = judge(plain, 0, "hello\n")
    assert status == FAILED and "no output line matches" in reason
    status, reason, _ = judge(plain, 1, "PASS plain\n")
    assert status == FAILED and "exit status 1, expected 0" in reason
    status, reason, _ = judge(plain, 0, "PASS part one\nFAIL part two: lost a page\n")
    assert status == FAILED and "FAIL part two: lost a page" in reason


def test_status_lists_and_sigkill(scen):
    r = scen.row("status42")
    assert judge(r, 42, "")[0] == PASSED and judge(r, 43, "")[0] == PASSED
    status, reason, _ = judge(r, 137, "", seconds=601)
    assert status == FAILED and "killed with SIGKILL (timeout 600s)" in reason
    status, reason, _ = judge(r, 137, "", seconds=3)
    assert "not by timeout" in reason


def test_a_program_may_skip_its_row_only_with_status_77_and_a_skip_line(scen):
    maybe = scen.row("maybe")
    status, reason, _ = judge(maybe, 77, "probing\nSKIP maybe: no hardware PMU (ENOENT)\n")
    assert (status, reason) == (SKIPPED, "SKIP maybe: no hardware PMU (ENOENT)")
    assert judge(maybe, 0, "PASS maybe\n")[0] == PASSED
    # 77 without the line, or the line without 77, or a row that does not allow skipping: failures
    status, reason, _ = judge(maybe, 77, "crashed before it could say why\n")
    assert status == FAILED and "exit status 77, expected 0" in reason
    status, reason, _ = judge(maybe, 0, "SKIP maybe: no PMU\n")
    assert status == FAILED and "no output line matches" in reason
    status, reason, _ = judge(scen.row("plain"), 77, "SKIP plain: no PMU\n")
    assert status == FAILED and "exit status 77" in reason


def test_declared_metrics_must_be_emitted(scen):
    r = scen.row("measured")
    status, reason, metrics = judge(r, 0, f"{metric_line()}\nPASS\n")
    assert status == PASSED, reason
    assert metrics[0].samples == [10, 12, 11] and metrics[0].events["exits"] == {"VMCALL": 3}
    status, reason, _ = judge(r, 0, "PASS\n")
    assert status == FAILED and "did not emit metric getpid" in reason


@pytest.mark.parametrize("line,why", [
    (runner.METRIC_PREFIX + "{not json", "bad DUNELAB-METRIC line"),
    (metric_line(unit="furlongs"), "unit 'furlongs'"),
    (metric_line(samples=[]), "non-empty"),
    (metric_line(samples=[1, "x"]), "numbers"),
    (metric_line(ops_per_sample=0), "ops_per_sample"),
    (runner.METRIC_PREFIX + json.dumps({"name": "getpid", "unit": "tsc"}), "missing 'samples'"),
])
def test_malformed_metric_lines_fail_the_row(scen, line, why):
    status, reason, metrics = judge(scen.row("measured"), 0, f"{line}\nPASS\n")
    assert status == FAILED and why in reason, reason


def test_metric_lines_are_shortened_in_the_output():
    p = parse_output("a\n" + metric_line(samples=list(range(1, 5000))) + "\nb\n")
    assert len(p.metrics) == 1 and len(p.metrics[0].samples) == 4999
    assert len(p.text) < 200 and "getpid [dune] 4999 samples" in p.text


# ---- running over a connection -------------------------------------------------------------

@dataclass
class FakeResult:
    stdout: str
    stderr: str
    exited: int


class FakeConn:
    """Stands in for a Fabric Connection: answers each command from a script."""

    def __init__(self, script):
        self.script = script
        self.commands: list[str] = []
        self.dmesg = ""

    def run(self, cmd, hide=True, warn=True, timeout=None):
        self.commands.append(cmd)
        if cmd.startswith("echo dunelab-mark-"):
            self.dmesg += cmd.split()[1] + "\n"
            return FakeResult("", "", 0)
        if cmd == "dmesg":
            return FakeResult(self.dmesg, "", 0)
        out = self.script(cmd)
        if isinstance(out, BaseException):
            raise out
        return out


def test_run_builds_the_command_and_keeps_the_output(scen, tmp_path):
    conn = FakeConn(lambda cmd: FakeResult(metric_line() + "\nPASS\n", "", 0))
    res = run(conn, scen.row("measured"), scen.profile("emulated"), log_dir=tmp_path / "rows")
    assert res.status == PASSED, res.reason
    assert res.command == "/root/dunelab/scenarios/demo/measured --n 3"
    assert "timeout -s KILL 600 /root/dunelab/scenarios/demo/measured --n 3" in conn.commands[0]
    assert res.output_file == "rows/demo--measured.log"
    log = (tmp_path / "rows/demo--measured.log").read_text()
    assert log.startswith("$ /root/dunelab/scenarios/demo/measured --n 3") and "[exit status 0" in log


def test_kernel_log_problems_after_a_row_fail_it(scen):
    def script(cmd):
        conn.dmesg += "BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
        return FakeResult("ok\n", "", 0)

    conn = FakeConn(script)
    res = run(conn, scen.row("dmesg"), {})
    assert res.status == FAILED and "kernel log after the row: BUG: kernel NULL pointer" in res.reason
    assert res.kernel_log and res.kernel_log[0].startswith("BUG:")


def test_lost_connection_raises(scen):
    conn = FakeConn(lambda cmd: EOFError())
    with pytest.raises(runner.ChannelLost):
        run(conn, scen.row("plain"), {})


def test_run_rows_goes_on_after_a_failure_and_records_each_attempt(scen):
    outputs = {"/plain": FakeResult("no pass line\n", "", 0), "/measured": FakeResult(metric_line(), "", 0),
               "/s42": FakeResult("", "", 42), "/dm": FakeResult("", "", 0)}
    conn = FakeConn(lambda cmd: next(v for k, v in outputs.items() if k + " " in cmd + " "))
    recorded = []
    facts = LabFacts(vmx=False, dune=False, backend="qemu-tcg")
    results = run_rows(lambda: conn, [(scen, list(scen.rows))], facts, "emulated", recorded.append)
    assert recorded == results
    by = {(r.row, r.attempt): r.status for r in results}
    assert by[("plain", 1)] == FAILED                  # recorded, and the run went on
    assert by[("measured", 1)] == PASSED
    assert by[("needs-dune", 1)] == SKIPPED
    assert ("dmesg", 2) in by                          # repeat: 2 -> two attempts
    assert next(r for r in results if r.row == "needs-dune").reason == "qemu-tcg guest has no VMX"


def test_run_rows_stops_waiting_when_the_vm_died(scen):
    conn = FakeConn(lambda cmd: paramiko.SSHException("connection reset"))
    results = run_rows(lambda: conn, [(scen, list(scen.rows))], LabFacts(True, True), "emulated", lambda r: None,
                       vm_alive=lambda: False)
    first, rest = results[0], results[1:]
    assert first.status == ERROR and "SSH connection lost" in first.reason and "the VM died" in first.reason
    assert rest and all(r.status == ERROR and r.reason == "not run: the VM died" for r in rest)
    # one attempt only: nobody waited out a timeout per row
    assert len([c for c in conn.commands if "timeout -s KILL" in c]) == 1


def test_a_scenario_that_did_not_build_fails_its_rows(scen):
    conn = FakeConn(lambda cmd: FakeResult("PASS\n", "", 0))
    facts = LabFacts(True, True, broken={"demo": "make: *** [all] Error 2"})
    results = run_rows(lambda: conn, [(scen, [scen.row("plain")])], facts, "emulated", lambda r: None)
    assert results[0].status == ERROR and "scenario build failed: make: *** [all] Error 2" in results[0].reason
    assert conn.commands == []


def test_host_side_timeout_is_an_error_not_a_crash(scen):
    import invoke

    conn = FakeConn(lambda cmd: invoke.exceptions.CommandTimedOut(None, timeout=720))
    with pytest.raises(runner.GuestSilent) as e:
        run(conn, scen.row("plain"), {})
    assert e.value.result.status == ERROR and "host-side timeout" in e.value.result.reason


@pytest.mark.parametrize("answers", [True, False])
def test_a_silent_guest_is_probed_once(scen, answers):
    import invoke

    def script(cmd):
        if cmd == "true":
            return FakeResult("", "", 0) if answers else invoke.exceptions.CommandTimedOut(None, timeout=60)
        return invoke.exceptions.CommandTimedOut(None, timeout=720)

    conn = FakeConn(script)
    rows = [scen.row("plain"), scen.row("status42")]
    results = run_rows(lambda: conn, [(scen, rows)], LabFacts(True, True), "emulated", lambda r: None)
    assert all(r.status == ERROR for r in results)
    if answers:   # a wedged program, not a wedged guest: the next row still runs
        assert "host-side timeout" in results[1].reason
    else:
        assert "the VM stopped answering" in results[0].reason
        assert results[1].reason == "not run: the VM stopped answering"


def test_output_file_paths_are_relative_to_the_results_dir(scen, tmp_path: Path):
    conn = FakeConn(lambda cmd: FakeResult("x\n", "", 0))
    res = run(conn, scen.row("dmesg"), {}, attempt=2, log_dir=tmp_path / "rows")
    assert res.output_file == "rows/demo--dmesg--2.log" and (tmp_path / res.output_file).is_file()


def test_a_rig_error_is_recorded_and_the_run_goes_on(scen):
    calls = []

    def script(cmd):
        calls.append(cmd)
        return RuntimeError("sftp hiccup") if len(calls) == 1 else FakeResult("PASS\n", "", 0)

    conn = FakeConn(script)
    results = run_rows(lambda: conn, [(scen, [scen.row("plain"), scen.row("plain")])], LabFacts(True, True),
                       "emulated", lambda r: None)
    assert results[0].status == ERROR and "RuntimeError: sftp hiccup" in results[0].reason
    assert results[1].status == PASSED
