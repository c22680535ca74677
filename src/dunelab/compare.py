"""`dunelab compare OLD NEW`: every metric of two runs side by side, and a verdict per metric.

A metric regressed when the new median is worse than the old one by more than the threshold *and*
the samples say so: the 95% bootstrap confidence interval of the ratio of medians (new / old) must lie
entirely beyond 1 ± threshold. Noisy metrics therefore need a bigger change to be flagged, tight ones
a smaller one. Events per operation (VM exits, MSR writes) are exact counts: any increase beyond
their tolerance is a regression. A row that passed and now does not is one too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .records import PASSED, SKIPPED, RunRecord
from .report import merge_metrics

HIGHER_IS_BETTER = {"req/s"}
BOOTSTRAP_ROUNDS = 1000


@dataclass
class MetricChange:
    scenario: str
    metric: str
    variant: str
    unit: str
    old_median: float
    new_median: float
    ci_low: float           # 95% CI of new/old median ratio
    ci_high: float
    verdict: str            # regression | improvement | same

    @property
    def change(self) -> float:
        return self.new_median / self.old_median - 1 if self.old_median else math.inf


@dataclass
class EventChange:
    scenario: str
    metric: str
    variant: str
    event: str
    old: float
    new: float
    verdict: str


@dataclass
class Comparison:
    old: str
    new: str
    threshold: float
    metrics: list[MetricChange] = field(default_factory=list)
    events: list[EventChange] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)       # (row id, old status, new status)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        out = [f"{m.scenario}/{m.metric}[{m.variant}] median {m.old_median:,.4g} -> {m.new_median:,.4g} "
               f"({m.change:+.1%}, 95% CI {m.ci_low - 1:+.1%}..{m.ci_high - 1:+.1%})"
               for m in self.metrics if m.verdict == "regression"]
        out += [f"{e.scenario}/{e.metric}[{e.variant}] {e.event}/op {e.old:.4g} -> {e.new:.4g}"
                for e in self.events if e.verdict == "regression"]
        out += [f"{rid}: {o} -> {n}" for rid, o, n in self.rows if o == PASSED and n not in (PASSED, SKIPPED)]
        return out


def bootstrap_ratio_ci(old: list[float], new: list[float], rounds: int = BOOTSTRAP_ROUNDS,
                       seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(new) / median(old)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = np.asarray(old, dtype=float), np.asarray(new, dtype=float)
    ia = rng.integers(0, len(a), size=(rounds, len(a)))
    ib = rng.integers(0, len(b), size=(rounds, len(b)))
    ma, mb = np.median(a[ia], axis=1), np.median(b[ib], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(ma != 0, mb / ma, np.inf)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def compare(old: RunRecord, new: RunRecord, threshold: float = 0.05, event_tolerance: float = 0.01) -> Comparison:
    c = Comparison(old.run_id, new.run_id, threshold)
    if old.env.clock != new.env.clock or old.env.backend != new.env.backend:
        c.warnings.append(f"different machines: {old.env.backend} ({old.env.clock}) vs {new.env.backend} "
                          f"({new.env.clock}); times are not comparable, events per operation are")
    om = {(s, *k): m for s in old.scenarios for k, m in merge_metrics(old.metrics(s)).items()}
    nm = {(s, *k): m for s in new.scenarios for k, m in merge_metrics(new.metrics(s)).items()}
    same_clock = not c.warnings
    for key in sorted(set(om) & set(nm)):
        a, b = om[key], nm[key]
        sa, sb = a.summary(), b.summary()
        if same_clock:
            lo, hi = bootstrap_ratio_ci(a.samples, b.samples)
            worse_lo, worse_hi = (lo, hi) if b.unit not in HIGHER_IS_BETTER else (1 / hi, 1 / lo)
            verdict = ("regression" if worse_lo > 1 + threshold else
                       "improvement" if worse_hi < 1 - threshold else "same")
            c.metrics.append(MetricChange(key[0], key[1], key[2], b.unit, sa.median, sb.median, lo, hi, verdict))
        ea, eb = a.events_per_op(), b.events_per_op()
        for ev in sorted(set(ea) | set(eb)):
            x, y = ea.get(ev, 0.0), eb.get(ev, 0.0)
            verdict = ("regression" if y > x + event_tolerance else
                       "improvement" if y < x - event_tolerance else "same")
            if verdict != "same" or ev.startswith("exits"):
                c.events.append(EventChange(key[0], key[1], key[2], ev, x, y, verdict))
    c.only_old = [f"{k[0]}/{k[1]}[{k[2]}]" for k in sorted(set(om) - set(nm))]
    c.only_new = [f"{k[0]}/{k[1]}[{k[2]}]" for k in sorted(set(nm) - set(om))]
    ostat = {r.id: r.status for r in old.rows}
    nstat = {r.id: r.status for r in new.rows}
    c.rows = [(rid, ostat[rid], nstat[rid]) for rid in sorted(set(ostat) & set(nstat)) if ostat[rid] != nstat[rid]]
    return c


def to_text(c: Comparison) -> str:
    lines = [f"compare {c.old} -> {c.new} (threshold {c.threshold:.0%}, 95% bootstrap CI of the median ratio)"]
    lines += [f"warning: {w}" for w in c.warnings]
    if c.metrics:
        lines.append(f"{'metric':<34} {'old median':>14} {'new median':>14} {'change':>8} {'95% CI':>17}  verdict")
        for m in c.metrics:
            name = f"{m.scenario}/{m.metric}[{m.variant}]"
            ci = f"{m.ci_low - 1:+.1%}..{m.ci_high - 1:+.1%}"
            lines.append(f"{name:<34} {m.old_median:>14,.6g} {m.new_median:>14,.6g} {m.change:>+8.1%} {ci:>17}  "
                         f"{m.verdict}")
    for e in c.events:
        lines.append(f"{e.scenario}/{e.metric}[{e.variant}] {e.event}/op: {e.old:.4g} -> {e.new:.4g}  {e.verdict}")
    for rid, o, n in c.rows:
        lines.append(f"row {rid}: {o} -> {n}")
    if c.only_old:
        lines.append("only in old: " + ", ".join(c.only_old))
    if c.only_new:
        lines.append("only in new: " + ", ".join(c.only_new))
    regs = c.regressions
    lines.append(f"{len(regs)} regression{'s' if len(regs) != 1 else ''}" + (":" if regs else ""))
    lines += [f"  {r}" for r in regs]
    return "\n".join(lines)
