"""A machine that dies under a row: the SSH channel closes with no exit status (paramiko: -1) and the
next connection attempt is refused. Both mean "lost", not "the program failed"."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from dunelab import runner
from dunelab.records import ERROR, FAILED, PASSED
from dunelab.scenarios import LabFacts, load_scenario

SCENARIO = """\
name: demo
build: none
rows:
  - {name: one, program: /bin/echo, args: [PASS], expect: {pass: "^PASS"}}
  - {name: two, program: /bin/echo, args: [PASS], expect: {pass: "^PASS"}}
  - {name: three, program: /bin/echo, args: [PASS], expect: {pass: "^PASS"}}
"""


@dataclass
class Result:
    stdout: str
    stderr: str = ""
    exited: int = 0


class Conn:
    def __init__(self, exited, active):
        self.exited, self.active = exited, active
        self.client = SimpleNamespace(get_transport=lambda: SimpleNamespace(is_active=lambda: self.active))

    def run(self, cmd, **kw):
        return Result("PASS\n" if self.exited == 0 else "", "", self.exited)


@pytest.fixture
def scen(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "scenario.yaml").write_text(SCENARIO)
    return load_scenario(tmp_path / "demo")


def test_no_exit_status_on_a_dead_connection_is_a_lost_connection(scen):
    with pytest.raises(runner.ChannelLost, match="closed during the row"):
        runner.run(Conn(-1, active=False), scen.row("one"), {})


def test_no_exit_status_on_a_live_connection_is_the_programs_death(scen):
    res = runner.run(Conn(-1, active=True), scen.row("one"), {})
    assert res.status == FAILED and res.exit_status == -1


def test_a_refused_reconnect_ends_the_run_for_that_machine(scen):
    calls = {"n": 0}
    conn = Conn(0, active=True)

    def conn_of():
        calls["n"] += 1
        if calls["n"] == 1:
            return conn
        raise OSError(111, "Connection refused")

    results = runner.run_rows(conn_of, [(scen, list(scen.rows))], LabFacts(False, False), "emulated",
                              lambda r: None, vm_alive=lambda: False)
    assert [r.status for r in results] == [PASSED, ERROR, ERROR]
    assert "cannot reconnect: ConnectionRefusedError" in results[1].reason and "the VM died" in results[1].reason
    assert results[2].reason == "not run: the VM died"
