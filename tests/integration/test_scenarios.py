"""Every scenario row in the lab, through the README's main command, `dunelab lab run` (image, up —
the session's lab is already up, so it is reused —, check, build, install, every scenario, report,
down), then one test per row (parametrized over the very rows in scenarios/*/scenario.yaml) reading
that row's recorded outcome, and checks of what the run wrote: results.json against its schema, the
metrics' samples, the design's predictions, and the HTML report in a real browser.

`lab run` takes the VM down at its end: tests here read the results, not the guest."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dunelab.records import PASSED, SKIPPED, RunRecord, validate
from dunelab.report import check_predictions, metric_rows
from dunelab.scenarios import discover

from .conftest import dunelab_cli

pytestmark = [pytest.mark.vm]

SCENARIOS = discover()
ROWS = [r for s in SCENARIOS for r in s.rows]
# Every row's guest timeout, plus building and installing: the whole run's host-side limit.
RUN_TIMEOUT = sum(r.timeout * r.repeat for r in ROWS) + 1800


@dataclass
class ScenarioRun:
    dir: Path
    record: RunRecord
    returncode: int
    output: str


@pytest.fixture(scope="session")
def scenario_run(running_lab, tmp_path_factory) -> ScenarioRun:
    out = tmp_path_factory.mktemp("results") / "run"
    r = dunelab_cli("lab", "run", "--lab", str(running_lab.yaml), "--out", str(out), timeout=RUN_TIMEOUT)
    output = r.stdout + r.stderr
    if not (out / "results.json").is_file():
        pytest.fail(f"`dunelab run` wrote no results ({r.returncode}):\n{output[-4000:]}")
    keep = Path(__file__).resolve().parents[2] / "results" / f"itest-{out.parent.name}"
    shutil.copytree(out, keep, dirs_exist_ok=True)   # kept for people reading a CI log
    print(f"scenario results kept in {keep}")
    return ScenarioRun(out, RunRecord.load(out), r.returncode, output)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_row(scenario_run, row):
    attempts = [r for r in scenario_run.record.rows if r.id == row.id]
    assert attempts, f"{row.id} was not run:\n{scenario_run.output[-3000:]}"
    for a in attempts:
        if a.status == SKIPPED:
            pytest.skip(a.reason)
        assert a.status == PASSED, (f"{row.id} attempt {a.attempt}: {a.status}: {a.reason}\n$ {a.command}\n"
                                    f"{a.output_tail[-3000:]}\n" + "\n".join(a.kernel_log))
    assert len(attempts) == row.repeat


def test_run_succeeded_and_results_match_the_schema(scenario_run):
    import json

    data = json.loads((scenario_run.dir / "results.json").read_text())
    assert validate(data) == []
    rec = scenario_run.record
    failed = [f"{r.id}: {r.reason}" for r in rec.rows if r.status not in (PASSED, SKIPPED)]
    assert scenario_run.returncode == 0 and rec.success, "\n".join(failed) or scenario_run.output[-3000:]
    assert rec.env.backend and rec.env.clock in ("emulated", "hardware")
    assert [(s.name, s.status) for s in rec.stages if s.status != "ok"] == []
    assert [s.name for s in rec.stages] == ["image", "up", "check-vmx", "build", "install-dune", "install-scenarios",
                                            "scenarios", "down"]
    assert (scenario_run.dir / "kernel.log").stat().st_size > 0
    assert "Linux version" in (scenario_run.dir / "console.log").read_text(errors="replace")


def test_every_metric_has_real_samples(scenario_run):
    """Repeated samples have a spread (a constant would mean a broken clock or a stubbed number; a
    single measurement such as a benchmark's total time has none to show), and the parameters the
    program reports are the ones the rig passed. Under an emulated clock the same deterministic work
    takes the same number of ticks every time once nothing interrupts it (Bochs since its patch
    0005: trap[dune] was 126 ticks in all 2000 samples), so there a constant metric is allowed as
    long as it is positive and the run's clock shows spread elsewhere."""
    rec = scenario_run.record
    metrics = [(r, m) for r in rec.rows for m in r.metrics]
    assert metrics, "no row emitted a metric"
    constant = []
    for row, m in metrics:
        s = m.summary()
        if s.n >= 3 and s.max == s.min:
            constant.append(f"{row.id}: {m.name}[{m.variant}] has no spread: {s}")
            assert s.min > 0, constant[-1]
    if rec.env.clock != "emulated":
        assert not constant, "\n".join(constant)
    else:
        assert len(constant) < sum(1 for _, m in metrics if m.summary().n >= 3), "\n".join(constant)
    for row, m in metrics:
        profile = rec.scenarios[row.scenario]["params"]
        for k, v in m.params.items():
            if k in profile:
                assert v == profile[k], f"{row.id}: ran with {k}={v}, the rig asked for {profile[k]}"


TRAP_MEASURES = ("getpid", "interpose", "pgfault", "trap", "pagewalk", "appel1", "appel2")


def test_trap_has_every_measure_on_linux_and_dune_with_the_samples_asked_for(scenario_run):
    rec = scenario_run.record
    if "trap" not in rec.scenarios:
        pytest.skip("the trap scenario did not run")
    if not rec.env.guest_vmx:
        pytest.skip(f"{rec.env.backend} guests have no VMX: only the Linux half ran")
    params = rec.scenarios["trap"]["params"]
    got = {(m.name, m.variant): m for m in rec.metrics("trap")}
    assert sorted(got) == sorted((n, v) for n in TRAP_MEASURES for v in ("linux", "dune"))
    for (name, variant), m in got.items():
        # one sample per round for Appel; otherwise the n operations, ops_per_sample to a sample
        want = params["rounds"] if name.startswith("appel") else params["n"] // m.ops_per_sample
        assert len(m.samples) == want, f"{name}[{variant}]: {len(m.samples)} samples, expected {want}"
        if variant == "dune":
            assert m.events.get("ops") and m.exits_per_op() is not None, f"{name}[dune] has no exit counts"


def test_design_predictions_hold(scenario_run):
    rec = scenario_run.record
    checks = [(name, c) for name in rec.scenarios for c in check_predictions(rec, name)]
    bad = [f"{name}: {c.metric}[{c.variant}] {c.event}/op measured {c.measured}, predicted {c.predicted}"
           f" ± {c.tolerance}" for name, c in checks if not c.holds]
    assert not bad, "\n".join(bad)


def test_report_has_every_measured_metric(scenario_run):
    rec = scenario_run.record
    md = (scenario_run.dir / "report.md").read_text()
    for name in rec.scenarios:
        for mr in metric_rows(rec, name):
            assert f"| {mr.metric}" in md, f"{name}/{mr.metric} missing from report.md"


def test_report_html_in_a_browser(scenario_run):
    """The report the run wrote, opened in headless Chromium: every image decodes, tables are there."""
    from ..unit.test_report_browser import open_browser

    with open_browser() as browser:
        browser.get((scenario_run.dir / "report.html").as_uri())
        assert browser.title.startswith("dunelab run ")
        assert browser.find_elements("css selector", "table")
        for img in browser.find_elements("css selector", "img"):
            assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img), \
                img.get_attribute("alt")
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert dunelab_cli("report", str(scenario_run.dir)).returncode == 0   # re-renders from results.json
