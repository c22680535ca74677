"""`dunelab lab run`: the default lab end to end — image → VM → checks → (Dune, scenarios) → report.

Each stage is a function of the run context; a failing stage stops the run, but the VM is always
torn down and the results/report are always written, so a failure keeps its evidence.
"""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths
from .errors import DunelabError
from .lab import Lab
from .labdef import LabSpec
from .progress import console
from .report import plot_boot_history, write_markdown, write_results

if TYPE_CHECKING:
    from .images import Image


@dataclass
class RunContext:
    lab: Lab
    out_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    image: Image | None = None   # built by stage image; stage up boots it instead of asking the builder again


def stage_image(ctx: RunContext) -> str:
    from .images import build_image, load_recipe

    built = build_image(load_recipe(ctx.lab.spec.image))
    ctx.image = built.image
    ctx.results["image_key"] = built.image.key
    return built.message


def stage_up(ctx: RunContext) -> str:
    r = ctx.lab.up(image=ctx.image)
    st = ctx.lab.state() or {}
    ctx.results.update(backend=r.backend, backend_why=r.why, boot_seconds=round(r.boot_seconds, 1),
                       kernel_release=st.get("kernel_release"), guest_has_vmx=st.get("guest_has_vmx"))
    return f"{r.backend}: SSH after {r.boot_seconds:.1f}s"


def stage_check_vmx(ctx: RunContext) -> str:
    """The guest must offer VMX and EPT, or Dune cannot run in it."""
    chan = ctx.lab.channel()
    cpuinfo = chan.run("cat /proc/cpuinfo", hide=True, warn=False).stdout
    cpus = sum(1 for line in cpuinfo.splitlines() if line.startswith("processor"))
    vmx_cpus = sum(1 for line in cpuinfo.splitlines() if line.startswith("flags") and " vmx" in line)
    ept = any(line.startswith("vmx flags") and " ept" in line for line in cpuinfo.splitlines())
    ctx.results["guest_cpus"] = cpus
    ctx.results["guest_vmx_cpus"] = vmx_cpus
    ctx.results["guest_ept"] = ept
    summary = f"{vmx_cpus}/{cpus} CPUs with vmx, ept={'yes' if ept else 'no'}"
    if ctx.results["guest_has_vmx"] and not (vmx_cpus and ept):
        raise DunelabError(f"the guest should have VMX and EPT but shows {summary}")
    return summary


class Skipped(Exception):
    """A stage that cannot run on this lab (e.g. Dune on a guest without VMX); the reason is recorded."""


def _require_vmx(ctx: RunContext) -> None:
    if not ctx.results.get("guest_has_vmx"):
        raise Skipped(f"{ctx.results.get('backend')} guests have no VMX: Dune cannot run there")


def stage_install_dune(ctx: RunContext) -> str:
    _require_vmx(ctx)
    from .provisioning import provision

    art = provision(ctx.lab)
    ctx.results["artifacts"] = {"dir": str(art.dir), "key": art.key}
    return f"dune.ko + libdune installed; {len(art.guest_tests)} self-test programs"


def stage_dune_selftest(ctx: RunContext) -> str:
    """Run libdune's in-guest programs; each must print PASS and exit 0 (exitcode: exit 42)."""
    _require_vmx(ctx)
    from .selftest import run_selftests

    outcomes = run_selftests(ctx.lab.channel(), ctx.lab.spec.command_timeout)
    ctx.results["dune_selftest"] = [o.to_json() for o in outcomes]
    failed = [o.name for o in outcomes if not o.passed]
    summary = f"{len(outcomes) - len(failed)} passed, {len(failed)} failed"
    if failed:
        raise DunelabError(f"{summary}: {', '.join(failed)}")
    return summary


STAGES: list[tuple[str, Callable[[RunContext], str]]] = [
    ("image", stage_image),
    ("up", stage_up),
    ("check-vmx", stage_check_vmx),
    ("install-dune", stage_install_dune),
    ("dune-selftest", stage_dune_selftest),
]


def run_lab(spec: LabSpec, keep_up: bool = False) -> tuple[Path, bool]:
    """Run every stage; returns (results dir, success)."""
    started = dt.datetime.now(dt.UTC)
    out_dir = paths.results_dir() / f"{spec.name}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    lab = Lab(spec)
    ctx = RunContext(lab, out_dir, {"lab": spec.name, "started": started.isoformat(timespec="seconds"),
                                    "host": f"{platform.node()} {platform.machine()} {platform.release()}",
                                    "stages": []})
    ok = True
    try:
        for name, fn in STAGES:
            t0 = time.monotonic()
            console.print(f"[bold cyan]== {name}[/bold cyan]")
            try:
                detail = fn(ctx)
                status = "ok"
            except Skipped as e:
                detail, status = str(e), "skipped"
            except DunelabError as e:
                detail, status, ok = str(e), "failed", False
            ctx.results["stages"].append({"name": name, "status": status, "seconds": time.monotonic() - t0,
                                          "detail": detail})
            console.print(f"   {status}: {detail}")
            if not ok:
                break
    finally:
        if not keep_up:
            t0 = time.monotonic()
            msg = lab.down()
            ctx.results["stages"].append({"name": "down", "status": "ok", "seconds": time.monotonic() - t0,
                                          "detail": msg})
        ctx.results["success"] = ok
        write_results(out_dir, ctx.results)
        plots = [p for p in [plot_boot_history(lab.dir / "boots.jsonl", out_dir / "boot_times.png")] if p]
        report = write_markdown(out_dir, ctx.results, plots)
        console.print(f"results: {out_dir / 'results.json'}\nreport:  {report}")
    return out_dir, ok
