"""The report of a run, rendered from its RunRecord alone: report.md, a self-contained report.html
and the PNG plots both show.

What it answers: did every row pass, and how does Dune compare with Linux here and in the paper.
Numbers keep their unit: under an emulator a TSC tick is an emulated tick, so our absolute numbers are
never set against the paper's cycles; only ratios (Dune / Linux, each measured one way) stand side by
side, with events per operation (VM exits, MSR writes) that hold on any machine.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .records import PASSED, SKIPPED, MetricSample, RowResult, RunRecord, Summary

BASELINE = "linux"


# ---------------------------------------------------------------------------- model (pure, tested)
TIME_UNITS = ("ns", "us", "ms", "s")


def unit_label(unit: str, clock: str) -> str:
    if unit == "tsc":
        return {"emulated": "emulated ticks", "hardware": "cycles (TSC)"}.get(clock, "TSC ticks")
    if unit in TIME_UNITS and clock == "emulated":
        return f"{unit} of emulated guest time"
    return unit


CLOCK_NOTE = {
    "emulated": ("Times are **emulated**: under an emulator the guest's TSC (\"emulated ticks\") and its clock "
                 "advance with emulated instructions (Bochs counts instructions, not cycles of any real CPU). "
                 "Compare ratios and events per operation with the paper, never absolute numbers."),
    "hardware": "Time is in TSC cycles of the guest's (hardware-virtualized) CPU.",
}


@dataclass
class MetricRow:
    """One metric of one scenario: our numbers per variant, the paper's, and the events per op."""

    metric: str
    unit: str
    ops_per_sample: int
    baseline: str = BASELINE     # the variant ratios divide by (the scenario's `baseline`)
    ours: dict[str, Summary] = field(default_factory=dict)
    events: dict[str, dict[str, float]] = field(default_factory=dict)   # variant -> counter -> per op
    paper: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)

    def ratio(self, variant: str, baseline: str | None = None) -> float | None:
        a, b = self.ours.get(variant), self.ours.get(baseline or self.baseline)
        return a.median / b.median if a and b and b.median else None

    def paper_ratio(self, variant: str, baseline: str | None = None) -> float | None:
        a, b = self.paper.get(variant), self.paper.get(baseline or self.baseline)
        return a / b if a is not None and b else None

    def exits_per_op(self, variant: str) -> float | None:
        ev = self.events.get(variant, {})
        exits = [v for k, v in ev.items() if k.startswith("exits.")]
        return sum(exits) if exits else None


def merge_metrics(samples: list[MetricSample]) -> dict[tuple[str, str], MetricSample]:
    """Metrics of repeated attempts merged per (name, variant): samples and events concatenated."""
    out: dict[tuple[str, str], MetricSample] = {}
    for m in samples:
        key = (m.name, m.variant)
        if key not in out:
            out[key] = MetricSample(m.name, m.variant, m.unit, list(m.samples), m.overhead, m.ops_per_sample,
                                    dict(m.params), _copy_events(m.events))
            continue
        cur = out[key]
        cur.samples.extend(m.samples)
        cur.events = _add_events(cur.events, m.events)
    return out


def _copy_events(ev: dict) -> dict:
    return {k: (_copy_events(v) if isinstance(v, dict) else v) for k, v in ev.items()}


def _add_events(a: dict, b: dict) -> dict:
    out = _copy_events(a)
    for k, v in b.items():
        if isinstance(v, dict):
            out[k] = _add_events(out.get(k, {}) if isinstance(out.get(k), dict) else {}, v)
        elif isinstance(v, (int, float)):
            out[k] = out.get(k, 0) + v
    return out


def metric_rows(record: RunRecord, scenario: str) -> list[MetricRow]:
    info = record.scenarios.get(scenario, {})
    paper = (info.get("paper") or {}).get("values", {})
    base = info.get("baseline") or BASELINE
    merged = merge_metrics(record.metrics(scenario))
    rows: dict[str, MetricRow] = {}
    for (name, variant), m in merged.items():
        r = rows.setdefault(name, MetricRow(name, m.unit, m.ops_per_sample, base,
                                            paper=dict(paper.get(name, {}))))
        r.ours[variant] = m.summary()
        r.samples[variant] = m.samples
        ev = m.events_per_op()
        if ev:
            r.events[variant] = ev
    # The paper's order first (it is the table being compared with), then the rest as emitted.
    order = list(paper) + [n for n in rows if n not in paper]
    return [rows[n] for n in order if n in rows]


def variants_of(rows: list[MetricRow]) -> list[str]:
    """Every variant, the baseline first, then in the order they appear."""
    seen: list[str] = []
    for r in rows:
        for v in list(r.ours) + list(r.paper):
            if v not in seen:
                seen.append(v)
    base = rows[0].baseline if rows else BASELINE
    return sorted(seen, key=lambda v: (v != base, seen.index(v)))


@dataclass
class PredictionCheck:
    metric: str
    variant: str
    event: str
    predicted: float
    tolerance: float
    measured: float | None
    why: str

    @property
    def holds(self) -> bool:
        return self.measured is not None and abs(self.measured - self.predicted) <= self.tolerance + 1e-9


def check_predictions(record: RunRecord, scenario: str) -> list[PredictionCheck]:
    info = record.scenarios.get(scenario, {})
    rows = {r.metric: r for r in metric_rows(record, scenario)}
    out = []
    for p in info.get("predictions") or []:
        row = rows.get(p["metric"])
        measured = None
        if row is not None:
            ev = row.events.get(p.get("variant", ""), {})
            if p["event"] == "exits":
                measured = row.exits_per_op(p.get("variant", ""))
            else:
                measured = ev.get(p["event"])
                if measured is None and ev and p["event"].startswith("exits."):
                    measured = 0.0      # that exit reason never happened
        out.append(PredictionCheck(p["metric"], p.get("variant", ""), p["event"], p["per_op"],
                                   p.get("tolerance", 0.0), measured, p["why"]))
    return out


# ---------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


COLORS = {"linux": "#4c72b0", "dune": "#dd8452"}
_PALETTE = ["#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def _color(variant: str, i: int) -> str:
    return COLORS.get(variant, _PALETTE[i % len(_PALETTE)])


def _save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    _plt().close(fig)
    return out


def plot_compare(rows: list[MetricRow], clock: str, title: str, out: Path) -> Path | None:
    """Median per variant with p10-p90 whiskers, one group per metric, log scale."""
    rows = [r for r in rows if r.ours]
    if not rows:
        return None
    plt = _plt()
    variants = variants_of(rows)
    variants = [v for v in variants if any(v in r.ours for r in rows)]
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) * max(1, len(variants)) + 1.4), dpi=110)
    height = 0.8 / len(variants)
    for i, v in enumerate(variants):
        ys, xs, lo, hi = [], [], [], []
        for j, r in enumerate(rows):
            s = r.ours.get(v)
            if s is None:
                continue
            ys.append(j + (i - (len(variants) - 1) / 2) * height)
            xs.append(max(s.median, 1e-9))
            lo.append(max(s.median - s.p10, 0))
            hi.append(max(s.p90 - s.median, 0))
        ax.barh(ys, xs, height=height * 0.9, color=_color(v, i), label=v, xerr=[lo, hi],
                error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r.metric + (f" (/{r.ops_per_sample} ops)" if r.ops_per_sample > 1 else "") for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    units = {unit_label(r.unit, clock) for r in rows}
    ax.set_xlabel(" / ".join(sorted(units)) + " per sample (median, p10-p90), log scale")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def plot_ratios(rows: list[MetricRow], title: str, out: Path) -> Path | None:
    """Each variant / the baseline as we measured it, beside the paper's: the one comparison that
    crosses machines. Only measures the paper has."""
    rows = [r for r in rows if r.paper and r.baseline in r.ours]
    variants = [v for v in variants_of(rows) if rows and v != rows[0].baseline and any(v in r.ours for r in rows)]
    bars = [(r.metric, v, r.ratio(v), r.paper_ratio(v)) for r in rows for v in variants if v in r.ours]
    if not bars:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(bars) + 1.4), dpi=110)
    ys = range(len(bars))
    ax.barh([y - 0.2 for y in ys], [b[2] or 0 for b in bars], height=0.38,
            color=[_color(b[1], i) for i, b in enumerate(bars)], label="ours")
    paper = [(y, b[3]) for y, b in zip(ys, bars, strict=True) if b[3] is not None]
    if paper:
        ax.barh([y + 0.2 for y, _ in paper], [p for _, p in paper], height=0.38, color="#999999", label="paper")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([b[0] if len(variants) == 1 else f"{b[0]} [{b[1]}]" for b in bars])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"variant / {rows[0].baseline} (median; < 1: faster than {rows[0].baseline}), log scale")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def plot_distributions(rows: list[MetricRow], clock: str, title: str, out: Path) -> Path | None:
    """The samples behind each median: one box per variant (whiskers p10-p90), one panel per metric."""
    rows = [r for r in rows if r.samples]
    if not rows:
        return None
    plt = _plt()
    cols = min(4, len(rows))
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(2.4 * cols + 0.6, 2.5 * nrows + 0.6), dpi=110, squeeze=False)
    for k, r in enumerate(rows):
        ax = axes[k // cols][k % cols]
        variants = [v for v in variants_of([r]) if v in r.samples]
        bp = ax.boxplot([r.samples[v] for v in variants], whis=(10, 90), showfliers=False, patch_artist=True,
                        widths=0.6)
        for i, (patch, v) in enumerate(zip(bp["boxes"], variants, strict=True)):
            patch.set_facecolor(_color(v, i))
        ax.set_xticks(range(1, len(variants) + 1))
        ax.set_xticklabels([f"{v}\nn={len(r.samples[v])}" for v in variants], fontsize=7)
        ax.set_title(r.metric, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel(unit_label(r.unit, clock), fontsize=7)
    for k in range(len(rows), nrows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def plot_boot_history(boots: list[dict], out: Path) -> Path | None:
    """Boot-to-SSH time of every recorded boot of the lab, per backend and boot method."""
    if not boots:
        return None
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    keys = sorted({(b["backend"], b.get("method", "")) for b in boots})
    for backend, method in keys:
        pts = [(i + 1, b["boot_seconds"]) for i, b in enumerate(boots)
               if b["backend"] == backend and b.get("method", "") == method]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label=backend + (f" ({method})" if method else ""))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("boot #")
    ax.set_ylabel("seconds to SSH")
    ax.set_title("VM start to SSH answering")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return _save(fig, out)


# ---------------------------------------------------------------------------- text
def fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def _summary_cell(s: Summary | None) -> str:
    if s is None:
        return "–"
    if s.n == 1:
        return fmt(s.median)
    return f"{fmt(s.median)} [{fmt(s.p10)}–{fmt(s.p90)}] n={s.n}"


def _events_cell(ev: dict[str, float]) -> str:
    if not ev:
        return ""
    return ", ".join(f"{k} {fmt(v)}" for k, v in sorted(ev.items(), key=lambda kv: (-kv[1], kv[0])) if v)


@dataclass
class Section:
    """A piece of the report, written once and rendered as Markdown and as HTML."""

    kind: str                  # h1 h2 h3 p table img pre
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    image: Path | None = None
    cls: str = ""


def build_sections(record: RunRecord, plots: dict[str, Path]) -> list[Section]:
    env = record.env
    counts = record.counts()
    s: list[Section] = [Section("h1", f"dunelab run {record.run_id}")]
    verdict = ("PASSED" if record.success else "FAILED" if record.success is False else "IN PROGRESS")
    s.append(Section("p", f"**{verdict}** — {counts['passed']} rows passed, {counts['failed']} failed, "
                          f"{counts['error']} errors, {counts['skipped']} skipped.",
                     cls="ok" if record.success else "bad"))
    s.append(Section("table", header=["", ""], rows=[
        ["lab", env.lab], ["started / finished", f"{record.started} / {record.finished or '–'}"],
        ["host", env.host], ["backend", f"{env.backend or '–'} ({env.backend_why or '–'})"],
        ["clock", f"{env.clock or '–'}: {CLOCK_NOTE.get(env.clock, '')}"],
        ["guest", f"{env.guest_kernel or '–'}, CPU {env.guest_cpu_model or '–'}, {env.guest_cpus or '?'} vCPUs, "
                  f"VMX {_yn(env.guest_vmx)}, EPT {_yn(env.guest_ept)}"],
        ["boot to SSH", f"{env.boot_seconds} s" if env.boot_seconds is not None else "–"],
    ], cls="meta"))
    if record.stages:
        s.append(Section("h2", "Stages"))
        s.append(Section("table", header=["stage", "status", "seconds", "detail"], rows=[
            [st.name, st.status, f"{st.seconds:.1f}", st.detail[:200]] for st in record.stages]))
    for name, info in record.scenarios.items():
        s += _scenario_sections(record, name, info, plots)
    failed = [r for r in record.rows if r.status not in (PASSED, SKIPPED)]
    if failed:
        s.append(Section("h2", "Rows that did not pass"))
        for r in failed:
            s.append(Section("h3", f"{r.id} — {r.status}"))
            s.append(Section("p", f"`{r.command}` → exit status {r.exit_status}, {r.seconds:.1f} s: {r.reason}"
                             + (f" (full output: {r.output_file})" if r.output_file else "")))
            if r.output_tail:
                s.append(Section("pre", r.output_tail[-2500:]))
            if r.kernel_log:
                s.append(Section("pre", "\n".join(r.kernel_log[:40])))
    if "boots" in plots:
        s.append(Section("h2", "Boot history"))
        s.append(Section("img", "Boot-to-SSH time of every boot of this lab", image=plots["boots"]))
    files = [f"{role}: {name}" for role, name in record.files.items()]
    if files:
        s.append(Section("p", "Files in this directory — " + "; ".join(files) + "."))
    return s


def _yn(v: bool | None) -> str:
    return "?" if v is None else "yes" if v else "no"


def _scenario_sections(record: RunRecord, name: str, info: dict, plots: dict[str, Path]) -> list[Section]:
    clock = record.env.clock
    s = [Section("h2", f"Scenario `{name}`")]
    if info.get("description"):
        s.append(Section("p", info["description"]))
    params = info.get("params") or {}
    if params:
        s.append(Section("p", f"Parameters (profile **{info.get('profile')}**, chosen by the backend's clock): "
                              + ", ".join(f"{k} = {v}" for k, v in params.items()) + "."))
    rows = record.rows_of(name)
    c = defaultdict(int)
    for r in rows:
        c[r.status] += 1
    s.append(Section("table", header=["row", "status", "seconds", "note"], rows=[
        [r.row + (f" #{r.attempt}" if r.attempt > 1 else ""), r.status, f"{r.seconds:.1f}",
         (r.reason or ", ".join(f"{m.name}[{m.variant}] n={len(m.samples)}" for m in r.metrics))[:160]]
        for r in rows], cls="rows"))
    mrows = metric_rows(record, name)
    if not mrows:
        return s
    paper = info.get("paper") or {}
    variants = variants_of(mrows)
    ours_v = [v for v in variants if any(v in r.ours for r in mrows)]
    unit = "/".join(sorted({unit_label(r.unit, clock) for r in mrows}))
    s.append(Section("h3", "Results"))
    s.append(Section("p", f"Ours: median [p10–p90] n=samples (one value when n=1), in {unit} per sample"
                          + (f"; {CLOCK_NOTE[clock]}" if clock in CLOCK_NOTE else "")
                          + (f" Paper: {paper.get('citation', '')}, {paper.get('machine', '')}, "
                             f"{paper.get('unit', '')}." if paper else "")))
    base = mrows[0].baseline
    header = ["measure"] + [f"ours {v}" for v in ours_v]
    others = [v for v in ours_v if v != base]
    has_base = base in ours_v
    if has_base:
        header += [f"ours {v}/{base}" for v in others]
    if paper:
        header += [f"paper {v}" for v in variants if any(v in r.paper for r in mrows)]
        if has_base:
            header += [f"paper {v}/{base}" for v in others if any(v in r.paper for r in mrows)]
    exit_variants = [v for v in ours_v if any(r.exits_per_op(v) is not None for r in mrows)]
    header += [f"exits/op {v}" for v in exit_variants]
    table = []
    for r in mrows:
        label = r.metric + (f" (per {r.ops_per_sample} ops)" if r.ops_per_sample > 1 else "")
        line = [label] + [_summary_cell(r.ours.get(v)) for v in ours_v]
        if has_base:
            line += [_ratio(r.ratio(v)) for v in others]
        if paper:
            line += [fmt(r.paper.get(v)) for v in variants if any(v in x.paper for x in mrows)]
            if has_base:
                line += [_ratio(r.paper_ratio(v)) for v in others if any(v in x.paper for x in mrows)]
        line += [fmt(r.exits_per_op(v)) for v in exit_variants]
        table.append(line)
    s.append(Section("table", header=header, rows=table, cls="results"))
    if paper.get("note"):
        s.append(Section("p", paper["note"]))
    ev_rows = [[r.metric, v, _events_cell(ev)] for r in mrows for v, ev in r.events.items() if ev]
    if ev_rows:
        s.append(Section("h3", "Events per operation"))
        s.append(Section("p", "Counter deltas over the measured work divided by the operations they cover "
                              "(dune.ko's per-process counters): these hold on any machine, emulated or not."))
        s.append(Section("table", header=["measure", "variant", "events per op"], rows=ev_rows))
    checks = check_predictions(record, name)
    if checks:
        s.append(Section("h3", "What the design predicts"))
        s.append(Section("table", header=["measure", "counter per op", "predicted", "measured", "", "why"], rows=[
            [f"{c.metric} [{c.variant}]", c.event, fmt(c.predicted) + (f" ± {fmt(c.tolerance)}" if c.tolerance else ""),
             fmt(c.measured), "holds" if c.holds else "DOES NOT HOLD", c.why] for c in checks], cls="predictions"))
    for key, caption in ((f"compare-{name}", "Our measurements per variant"),
                         (f"ratios-{name}", "Ratios to the baseline: ours beside the paper's"),
                         (f"dist-{name}", "Sample distributions")):
        if key in plots:
            s.append(Section("img", caption, image=plots[key]))
    return s


# ---------------------------------------------------------------------------- writers
def to_markdown(sections: list[Section], base: Path) -> str:
    out: list[str] = []
    for sec in sections:
        if sec.kind in ("h1", "h2", "h3"):
            out += ["#" * int(sec.kind[1]) + " " + sec.text, ""]
        elif sec.kind == "p":
            out += [sec.text, ""]
        elif sec.kind == "pre":
            out += ["```", sec.text.replace("```", "'''"), "```", ""]
        elif sec.kind == "img" and sec.image is not None:
            out += [f"![{sec.text}]({sec.image.relative_to(base).as_posix()})", ""]
        elif sec.kind == "table":
            hdr = sec.header if any(sec.header) else ["", ""]
            out.append("| " + " | ".join(hdr) + " |")
            out.append("|" + "---|" * len(hdr))
            for row in sec.rows:
                out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |")
            out.append("")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.passed{color:#1a7f37}td.failed,td.error{color:#b42318;font-weight:600}
td.skipped{color:#777}p.ok{color:#1a7f37}p.bad{color:#b42318}
pre{background:#f6f8fa;padding:.7em;overflow-x:auto;font-size:.8em;max-height:28em}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}img{max-width:100%;height:auto}
code{background:#f2f2f2;padding:0 .2em}
"""


def _inline_md(text: str) -> str:
    """The little Markdown the sections use: **bold** and `code`, on escaped text."""
    import re

    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def to_html(sections: list[Section], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style></head><body>"]
    for sec in sections:
        if sec.kind in ("h1", "h2", "h3"):
            out.append(f"<{sec.kind}>{_inline_md(sec.text)}</{sec.kind}>")
        elif sec.kind == "p":
            cls = f' class="{sec.cls}"' if sec.cls else ""
            out.append(f"<p{cls}>{_inline_md(sec.text)}</p>")
        elif sec.kind == "pre":
            out.append(f"<pre>{html.escape(sec.text)}</pre>")
        elif sec.kind == "img" and sec.image is not None:
            data = base64.b64encode(sec.image.read_bytes()).decode()
            out.append(f'<figure><img alt="{html.escape(sec.text)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(sec.text)}</figcaption></figure>")
        elif sec.kind == "table":
            cls = f' class="{sec.cls}"' if sec.cls else ""
            out.append(f"<table{cls}>")
            if any(sec.header):
                out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in sec.header) + "</tr>")
            for row in sec.rows:
                cells = []
                for c in row:
                    status = f' class="{c}"' if c in ("passed", "failed", "error", "skipped") else ""
                    cells.append(f"<td{status}>{_inline_md(str(c))}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    plots: dict[str, Path]


def render(record: RunRecord, out_dir: Path) -> ReportFiles:
    """Write report.md, report.html and plots/*.png for `record` into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_dir = out_dir / "plots"
    plots: dict[str, Path] = {}
    clock = record.env.clock
    for name in record.scenarios:
        rows = metric_rows(record, name)
        for key, fn in ((f"compare-{name}", lambda r, o, n=name: plot_compare(r, clock, f"{n}: Linux vs Dune", o)),
                        (f"ratios-{name}", lambda r, o, n=name: plot_ratios(r, f"{n}: ratios to the baseline", o)),
                        (f"dist-{name}", lambda r, o, n=name: plot_distributions(r, clock, f"{n}: samples", o))):
            p = fn(rows, plot_dir / f"{key}.png")
            if p:
                plots[key] = p
    p = plot_boot_history(record.boots, plot_dir / "boots.png")
    if p:
        plots["boots"] = p
    sections = build_sections(record, plots)
    md = out_dir / "report.md"
    md.write_text(to_markdown(sections, out_dir))
    page = out_dir / "report.html"
    page.write_text(to_html(sections, f"dunelab run {record.run_id}"))
    return ReportFiles(md, page, plots)


def rows_summary(rows: list[RowResult]) -> str:
    c = defaultdict(int)
    for r in rows:
        c[r.status] += 1
    return ", ".join(f"{n} {k}" for k, n in sorted(c.items()))


# ---------------------------------------------------------------------------- many runs side by side
# A fleet run (dunelab run --hosts) is one RunRecord per host; its report puts them in columns. The
# per-host reports stay next to it (DIR/<host>/report.html) with every detail.
def plot_fleet(name: str, hosts: list[str], per_host: dict[str, list[MetricRow]], clocks: dict[str, str],
               out: Path) -> Path | None:
    """Median with p10-p90 whiskers per (measure, variant), one bar per host, log scale."""
    keys: list[tuple[str, str]] = []
    for h in hosts:
        for r in per_host.get(h, []):
            for v in r.ours:
                if (r.metric, v) not in keys:
                    keys.append((r.metric, v))
    if not keys:
        return None
    plt = _plt()
    present = [h for h in hosts if per_host.get(h)]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(keys) * max(1, len(present)) + 1.4), dpi=110)
    height = 0.8 / len(present)
    for i, h in enumerate(present):
        rows = {r.metric: r for r in per_host[h]}
        ys, xs, lo, hi = [], [], [], []
        for j, (metric, variant) in enumerate(keys):
            s = rows[metric].ours.get(variant) if metric in rows else None
            if s is None:
                continue
            ys.append(j + (i - (len(present) - 1) / 2) * height)
            xs.append(max(s.median, 1e-9))
            lo.append(max(s.median - s.p10, 0))
            hi.append(max(s.p90 - s.median, 0))
        ax.barh(ys, xs, height=height * 0.9, color=_PALETTE[i % len(_PALETTE)], xerr=[lo, hi],
                label=f"{h} ({clocks.get(h) or '?'})", error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{m} [{v}]" for m, v in keys])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("per sample, median and p10-p90, log scale (each host in its own clock's unit)")
    ax.set_title(f"{name}: hosts side by side")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def _host_cell(r: RowResult | None, attempts: int) -> str:
    if r is None:
        return "not run"
    cell = f"{r.status} {r.seconds:.1f}s" if r.seconds else r.status
    if attempts > 1:
        cell += f" ({attempts} attempts)"
    if r.status != PASSED and r.reason:
        cell += f": {r.reason[:80]}"
    return cell


def fleet_sections(meta: dict, records: dict[str, RunRecord], plots: dict[str, Path]) -> list[Section]:
    hosts = [h["name"] for h in meta["hosts"]]
    outcome = {h["name"]: h for h in meta["hosts"]}
    ok = sum(1 for h in meta["hosts"] if h["success"])
    s = [Section("h1", f"dunelab fleet run {meta['run_id']}")]
    s.append(Section("p", f"**{'PASSED' if meta.get('success') else 'FAILED'}** — {ok} of {len(hosts)} hosts "
                          f"passed. Started {meta.get('started')}, finished {meta.get('finished') or '–'}.",
                     cls="ok" if meta.get("success") else "bad"))
    bare = [h["name"] for h in meta["hosts"] if h.get("bare_metal")]
    if bare:
        s.append(Section("p", f"**Bare metal**: dune.ko was loaded into the kernel of {', '.join(bare)} itself.",
                         cls="bad"))
    table = []
    for h in hosts:
        rec, o = records.get(h), outcome[h]
        env = rec.env if rec else None
        c = rec.counts() if rec else {}
        stopped = f"{o['failed_stage']}: {o['reason']}" if o.get("failed_stage") else o.get("reason", "")
        table.append([h, "passed" if o["success"] else "failed", o.get("target", ""),
                      env.backend if env else "–", env.clock if env and env.clock else "–",
                      (env.guest_kernel or "–") if env else "–", _yn(env.guest_vmx) if env else "?",
                      (f"{c.get('passed', 0)}/{c.get('failed', 0)}/{c.get('error', 0)}/{c.get('skipped', 0)}"
                       if rec else "–"), stopped[:240],
                      f"{o['dir']}/report.html" if rec else "–"])
    s.append(Section("table", header=["host", "outcome", "SSH", "backend", "clock", "kernel", "VMX",
                                      "rows passed/failed/error/skipped", "what went wrong", "host report"],
                     rows=table, cls="hosts"))
    stage_names: list[str] = []
    for rec in records.values():
        stage_names += [st.name for st in rec.stages if st.name not in stage_names]
    if stage_names:
        s.append(Section("h2", "Stages"))
        lines = []
        for name in stage_names:
            line = [name]
            for h in hosts:
                st = next((x for x in records[h].stages if x.name == name), None) if h in records else None
                line.append("–" if st is None else f"{st.status} {st.seconds:.1f}s" if st.status != "failed"
                            else f"failed {st.seconds:.1f}s: {st.detail[:100]}")
            lines.append(line)
        s.append(Section("table", header=["stage", *hosts], rows=lines))
    if any(r.env.clock == "emulated" for r in records.values()):
        s.append(Section("p", CLOCK_NOTE["emulated"] + " Hosts with different clocks are set side by side only "
                              "through their ratios and events per operation."))
    scenarios: list[str] = []
    for rec in records.values():
        scenarios += [n for n in rec.scenarios if n not in scenarios]
    for name in scenarios:
        s.append(Section("h2", f"Scenario `{name}`"))
        row_ids: list[str] = []
        for rec in records.values():
            row_ids += [r.row for r in rec.rows_of(name) if r.row not in row_ids]
        lines = []
        for rid in row_ids:
            line = [rid]
            for h in hosts:
                attempts = [r for r in records[h].rows_of(name) if r.row == rid] if h in records else []
                worst = next((a for a in attempts if a.status not in (PASSED, SKIPPED)), attempts[-1] if attempts
                             else None)
                line.append(_host_cell(worst, len(attempts)))
            lines.append(line)
        s.append(Section("table", header=["row", *hosts], rows=lines, cls="rows"))
        per_host = {h: metric_rows(records[h], name) for h in hosts if h in records}
        keys: list[tuple[str, str]] = []
        for h in hosts:
            for r in per_host.get(h, []):
                keys += [(r.metric, v) for v in r.ours if (r.metric, v) not in keys]
        base = next((r.baseline for rows in per_host.values() for r in rows), BASELINE)
        if keys:
            s.append(Section("h3", "Results per host"))
            s.append(Section("p", "median [p10–p90] n=samples per sample, in each host's own unit."))
            res, ratios, exits = [], [], []
            for metric, variant in keys:
                label = f"{metric} [{variant}]"
                line, rline, eline = [label], [f"{metric} [{variant}/{base}]"], [label]
                for h in hosts:
                    row = next((r for r in per_host.get(h, []) if r.metric == metric), None)
                    summ = row.ours.get(variant) if row else None
                    unit = unit_label(row.unit, records[h].env.clock) if row else ""
                    line.append(f"{_summary_cell(summ)} {unit}" if summ else "–")
                    eline.append(fmt(row.exits_per_op(variant)) if row else "–")
                    rline.append(_ratio(row.ratio(variant)) if row and variant != base else "")
                res.append(line)
                if variant != base and any(c for c in rline[1:]):
                    ratios.append(rline)
                if any(c != "–" for c in eline[1:]):
                    exits.append(eline)
            s.append(Section("table", header=["measure", *hosts], rows=res, cls="results"))
            if ratios:
                s.append(Section("h3", f"Ratio to {base} per host"))
                s.append(Section("table", header=["measure", *hosts], rows=ratios))
            if exits:
                s.append(Section("h3", "VM exits per operation per host"))
                s.append(Section("table", header=["measure", *hosts], rows=exits))
        if f"fleet-{name}" in plots:
            s.append(Section("img", f"{name}: hosts side by side", image=plots[f"fleet-{name}"]))
    bad_hosts = [h for h in hosts if not outcome[h]["success"]]
    if bad_hosts:
        s.append(Section("h2", "Hosts that did not pass"))
        for h in bad_hosts:
            o = outcome[h]
            s.append(Section("h3", f"{h} — " + (f"stage {o['failed_stage']} failed" if o.get("failed_stage")
                                                 else "rows did not pass")))
            if o.get("reason"):
                s.append(Section("pre", o["reason"][-2500:]))
            rec = records.get(h)
            for r in (rec.rows if rec else []):
                if r.status not in (PASSED, SKIPPED):
                    s.append(Section("p", f"`{r.id}` {r.status}: {r.reason[:300]}"))
    s.append(Section("p", "Files: fleet.json (hosts and outcomes), inventory.yaml (as given), and per host "
                          "HOST/results.json, HOST/report.html, HOST/rows/*.log, HOST/kernel.log."))
    return s


def render_fleet(meta: dict, records: dict[str, RunRecord], out_dir: Path) -> ReportFiles:
    """report.md, report.html and plots/fleet-*.png of a fleet run (fleet.json + each host's record)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hosts = [h["name"] for h in meta["hosts"]]
    plots: dict[str, Path] = {}
    names: list[str] = []
    for rec in records.values():
        names += [n for n in rec.scenarios if n not in names]
    clocks = {h: r.env.clock for h, r in records.items()}
    for name in names:
        per_host = {h: metric_rows(records[h], name) for h in hosts if h in records}
        p = plot_fleet(name, hosts, per_host, clocks, out_dir / "plots" / f"fleet-{name}.png")
        if p:
            plots[f"fleet-{name}"] = p
    sections = fleet_sections(meta, records, plots)
    md = out_dir / "report.md"
    md.write_text(to_markdown(sections, out_dir))
    page = out_dir / "report.html"
    page.write_text(to_html(sections, f"dunelab fleet run {meta['run_id']}"))
    return ReportFiles(md, page, plots)
