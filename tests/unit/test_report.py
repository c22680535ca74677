"""The report renders from records alone: tables with ours, the paper's and the ratios, events per
op, the design's predictions checked, plots that exist, and a self-contained HTML page."""

from __future__ import annotations

import re

import pytest

from dunelab import report
from dunelab.records import MetricSample, RunRecord
from dunelab.report import check_predictions, merge_metrics, metric_rows, render, unit_label

from .records_fixture import make_record


def test_metric_rows_pair_variants_with_the_paper():
    rows = {r.metric: r for r in metric_rows(make_record(), "trap")}
    assert list(rows) == ["getpid", "pgfault", "appel1"]        # the paper's order
    g = rows["getpid"]
    assert set(g.ours) == {"linux", "dune"} and g.ours["dune"].n == 200
    assert g.ratio("dune") == pytest.approx(g.ours["dune"].median / g.ours["linux"].median)
    assert g.paper_ratio("dune") == pytest.approx(895 / 138)
    assert g.exits_per_op("dune") == pytest.approx(1.0 + 3 / 200)
    assert g.exits_per_op("linux") is None
    assert rows["appel1"].ops_per_sample == 100
    assert rows["appel1"].events["dune"]["msr_writes"] == 8.0


def test_repeated_attempts_are_merged():
    a = MetricSample("m", "dune", "tsc", [1.0, 2.0], events={"ops": 2, "exits": {"VMCALL": 2}})
    b = MetricSample("m", "dune", "tsc", [3.0], events={"ops": 1, "exits": {"VMCALL": 1, "HLT": 1}})
    m = merge_metrics([a, b])[("m", "dune")]
    assert m.samples == [1.0, 2.0, 3.0]
    assert m.events == {"ops": 3, "exits": {"VMCALL": 3, "HLT": 1}}
    assert a.samples == [1.0, 2.0]                                # the inputs are untouched


def test_predictions_are_checked():
    rec = make_record()
    (c,) = check_predictions(rec, "trap")
    assert c.measured == pytest.approx(1.0) and c.holds
    rec.scenarios["trap"]["predictions"][0]["per_op"] = 2.0
    assert not check_predictions(rec, "trap")[0].holds


def test_units_are_labelled_by_clock():
    assert unit_label("tsc", "emulated") == "emulated ticks"
    assert unit_label("tsc", "hardware") == "cycles (TSC)"
    assert unit_label("ms", "emulated") == "ms of emulated guest time"
    assert unit_label("ms", "hardware") == "ms" and unit_label("req/s", "emulated") == "req/s"


def test_render_writes_markdown_html_and_plots(tmp_path):
    files = render(make_record(), tmp_path)
    md = files.markdown.read_text()
    assert "emulated ticks" in md and "never absolute numbers" in md
    assert "| measure | ours linux | ours dune | ours dune/linux | paper linux | paper dune | paper dune/linux |" in md
    assert re.search(r"\| getpid \| [\d,]+ \[", md)
    assert "6.49×" in md                                          # the paper's getpid ratio 895/138
    assert "holds" in md and "one VMCALL per syscall" in md
    assert "## Rows that did not pass" in md and "selftest/fork — failed" in md
    for key in ("compare-trap", "ratios-trap", "dist-trap", "boots"):
        assert files.plots[key].stat().st_size > 5000, key
        assert f"plots/{key}.png" in md
    page = files.html.read_text()
    assert page.count("data:image/png;base64,") == 4                 # self-contained
    assert "src=\"plots/" not in page
    assert "FAIL child &lt;lost&gt; &amp; done" in page                # output is escaped


def test_render_with_no_metrics_or_boots(tmp_path):
    rec = make_record()
    rec.rows = [r for r in rec.rows if r.scenario == "selftest"]
    rec.boots = []
    files = render(rec, tmp_path)
    assert files.plots == {}
    assert "Results" not in files.markdown.read_text()


def test_hardware_numbers_are_called_cycles(tmp_path):
    md = render(make_record(clock="hardware"), tmp_path).markdown.read_text()
    assert "cycles (TSC)" in md and "emulated ticks" not in md


def test_report_cli_rerenders_a_results_directory(tmp_path, capsys):
    from dunelab.cli import main

    make_record().save(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report.md").is_file()
    RunRecord.load(tmp_path)   # untouched and still valid


def test_report_cli_refuses_a_directory_without_results(tmp_path, capsys):
    from dunelab.cli import main

    assert main(["report", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_fmt():
    assert report.fmt(None) == "–" and report.fmt(0) == "0"
    assert report.fmt(1234567.0) == "1,234,567" and report.fmt(0.0312) == "0.0312" and report.fmt(123.4) == "123"


def test_the_scenario_baseline_divides(tmp_path):
    """GC compares its modes with stop-the-world, not with a `linux` variant it does not have."""
    from dunelab.records import RowResult

    rec = make_record()
    rec.scenarios["gc"] = {"name": "gc", "description": "", "profile": "emulated", "params": {}, "baseline": "stw",
                           "paper": {"citation": "p", "unit": "ms", "values": {"gcbench_total": {"stw": 1224,
                                                                                                 "dune": 888}}},
                           "predictions": []}
    for mode, ms in (("stw", 25.0), ("mprotect", 47.0), ("dune", 31.0)):
        rec.rows.append(RowResult("gc", f"gcbench-{mode}", "passed",
                                  metrics=[MetricSample("gcbench_total", mode, "ms", [ms])]))
    (row,) = metric_rows(rec, "gc")
    assert row.baseline == "stw" and row.ratio("dune") == pytest.approx(31 / 25)
    assert row.paper_ratio("dune") == pytest.approx(888 / 1224)
    md = render(rec, tmp_path).markdown.read_text()
    assert "| measure | ours stw | ours mprotect | ours dune | ours mprotect/stw | ours dune/stw | paper stw |" in md
    assert "| gcbench_total | 25 | 47 | 31 | 1.88× | 1.24× | 1,224 | 888 | 0.73× |" in md
