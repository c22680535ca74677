"""`dunelab compare`: an injected regression is flagged (exit 1), an unchanged pair passes, and the
spread of the samples decides how big a change must be."""

from __future__ import annotations

import copy
import random

from dunelab.cli import main
from dunelab.compare import bootstrap_ratio_ci, compare

from .records_fixture import make_record


def scaled(rec, metric: str, variant: str, factor: float):
    rec = copy.deepcopy(rec)
    for r in rec.rows:
        for m in r.metrics:
            if m.name == metric and m.variant == variant:
                m.samples = [x * factor for x in m.samples]
    return rec


def test_unchanged_pair_passes(tmp_path, capsys):
    a, b = make_record(), make_record()
    c = compare(a, b)
    assert c.regressions == []
    assert {m.verdict for m in c.metrics} == {"same"}
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "0 regressions" in capsys.readouterr().out


def test_injected_regression_is_flagged(tmp_path, capsys):
    a = make_record()
    b = scaled(a, "getpid", "dune", 1.25)
    c = compare(a, b)
    assert [m.metric for m in c.metrics if m.verdict == "regression"] == ["getpid"]
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "trap/getpid[dune]" in out and "1 regression:" in out


def test_faster_is_an_improvement_not_a_regression():
    a = make_record()
    c = compare(a, scaled(a, "pgfault", "linux", 0.7))
    assert [(m.metric, m.verdict) for m in c.metrics if m.verdict != "same"] == [("pgfault", "improvement")]
    assert c.regressions == []


def test_noise_needs_a_bigger_change():
    rng = random.Random(1)
    tight = [1000 + rng.uniform(-5, 5) for _ in range(300)]
    noisy = [1000 * rng.uniform(0.3, 3.0) for _ in range(30)]
    lo, hi = bootstrap_ratio_ci(tight, [x * 1.08 for x in tight])
    assert lo > 1.05                   # 8% on tight samples: beyond a 5% threshold
    lo, hi = bootstrap_ratio_ci(noisy, [x * 1.08 for x in noisy])
    assert lo < 1.05                   # the same 8% on noisy samples: not demonstrated


def test_more_exits_per_op_is_a_regression():
    a = make_record()
    b = copy.deepcopy(a)
    for r in b.rows:
        for m in r.metrics:
            if m.name == "getpid" and m.variant == "dune":
                m.events["exits"]["VMCALL"] *= 2
    regs = compare(a, b).regressions
    assert any("exits.VMCALL/op" in x for x in regs), regs


def test_a_row_that_stopped_passing_is_a_regression():
    a = make_record()
    b = copy.deepcopy(a)
    b.rows[0].status = "failed"
    assert "selftest/hello: passed -> failed" in compare(a, b).regressions


def test_different_clocks_compare_only_events():
    a = make_record()
    b = make_record(clock="hardware")
    b.env.backend = "qemu-kvm"
    c = compare(a, b)
    assert c.metrics == [] and "not comparable" in c.warnings[0]
