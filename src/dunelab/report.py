"""Results of a lab run: results.json (machine-readable) and report.md + plots (for people)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(out_dir: Path, results: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    return path


def plot_boot_history(boots_jsonl: Path, out: Path) -> Path | None:
    """Boot-to-SSH time of every recorded boot of this lab, per backend."""
    try:
        rows = [json.loads(line) for line in boots_jsonl.read_text().splitlines() if line.strip()]
    except OSError:
        return None
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    for backend in sorted({r["backend"] for r in rows}):
        ys = [r["boot_seconds"] for r in rows if r["backend"] == backend]
        ax.plot(range(1, len(ys) + 1), ys, marker="o", label=backend)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("boot #")
    ax.set_ylabel("seconds to SSH")
    ax.set_title("VM start to SSH answering")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def write_markdown(out_dir: Path, results: dict[str, Any], plots: list[Path]) -> Path:
    lines = [f"# dunelab run: lab `{results['lab']}`", "",
             f"- started: {results['started']}", f"- host: {results['host']}",
             f"- backend: **{results.get('backend', '?')}** ({results.get('backend_why', '')})",
             f"- guest kernel: {results.get('kernel_release', '?')}",
             f"- boot to SSH: {results.get('boot_seconds', '?')} s", "",
             "| stage | status | seconds | detail |", "|---|---|---|---|"]
    for st in results["stages"]:
        detail = str(st.get("detail", "")).replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(f"| {st['name']} | {st['status']} | {st['seconds']:.1f} | {detail} |")
    lines.append("")
    for p in plots:
        lines += [f"![{p.stem}]({p.name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
