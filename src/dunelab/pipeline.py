"""Runs end to end. `dunelab lab run`: image → VM → checks → install Dune → every scenario → report.
`dunelab run`: the same from "checks" on, against a lab that is already up.

Each stage is a function of the run context, listed in a table. A failing stage stops the run, but
the VM is always torn down (lab run) and results.json and the report are always written, so a
failure keeps its evidence. results.json is rewritten after every row, so a run that dies halfway
keeps everything measured before.
"""

from __future__ import annotations

import datetime as dt
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import backends, paths
from .errors import DunelabError
from .lab import Lab
from .labdef import LabSpec
from .progress import console, step
from .records import FAILED, PASSED, Environment, RowResult, RunRecord, StageResult
from .scenarios import LabFacts, Row, Scenario, ScenarioInfo, discover, select

if TYPE_CHECKING:
    from .artifacts import Artifacts
    from .images import Image

Plan = list[tuple[Scenario, list[Row]]]


@dataclass
class RunContext:
    lab: Lab
    out_dir: Path
    record: RunRecord
    plan: Plan
    image: Image | None = None      # built by stage image; stage up boots it instead of asking the builder again
    dune_installed: bool = False
    artifacts: Artifacts | None = None
    extra_files: dict[str, Path] = field(default_factory=dict)

    @property
    def env(self) -> Environment:
        return self.record.env

    def save(self) -> None:
        self.record.save(self.out_dir)


class Skipped(Exception):
    """A stage that cannot run on this lab (e.g. Dune on a guest without VMX); the reason is recorded."""


# ---------------------------------------------------------------------------- stages
def stage_image(ctx: RunContext) -> str:
    from .images import build_image, load_recipe

    built = build_image(load_recipe(ctx.lab.spec.image))
    ctx.image = built.image
    ctx.env.image_key = built.image.key
    return built.message


def _env_from_state(ctx: RunContext, st: dict) -> None:
    env = ctx.env
    env.backend = st.get("backend", "")
    env.backend_why = st.get("why", "")
    env.clock = backends.BACKENDS[env.backend].clock if env.backend in backends.BACKENDS else ""
    env.guest_kernel = st.get("kernel_release")
    env.guest_vmx = st.get("guest_has_vmx")
    env.boot_seconds = st.get("boot_seconds")
    env.image_key = env.image_key or st.get("image_key")


def stage_up(ctx: RunContext) -> str:
    r = ctx.lab.up(image=ctx.image)
    _env_from_state(ctx, ctx.lab.state() or {})
    ctx.env.boot_seconds = round(r.boot_seconds, 1)
    return f"{r.backend}: SSH after {r.boot_seconds:.1f}s"


def stage_attach(ctx: RunContext) -> str:
    """`dunelab run`: the lab must already be up; take what it booted from its state."""
    st = ctx.lab.require_up()
    _env_from_state(ctx, st)
    return f"{st['backend']} lab {ctx.lab.spec.name}, up since {time.time() - st['started_at']:.0f}s"


def stage_check_vmx(ctx: RunContext) -> str:
    """What the guest's CPU offers; a backend that promises VMX must deliver VMX and EPT."""
    cpuinfo = ctx.lab.channel().run("cat /proc/cpuinfo", hide=True, warn=False).stdout
    lines = cpuinfo.splitlines()
    cpus = sum(1 for line in lines if line.startswith("processor"))
    vmx_cpus = sum(1 for line in lines if line.startswith("flags") and " vmx" in line)
    ept = any(line.startswith("vmx flags") and " ept" in line for line in lines)
    svm = any(line.startswith("flags") and " svm" in line and " npt" in line for line in lines)
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    env = ctx.env
    env.guest_cpus, env.guest_ept, env.guest_cpu_model = cpus, ept, model
    env.guest_svm = svm
    env.dune_backend = _dune_backend(ctx)
    summary = (f"{vmx_cpus}/{cpus} CPUs with vmx, ept={'yes' if ept else 'no'}, svm+npt={'yes' if svm else 'no'} "
               f"({model}); Dune back end: {env.dune_backend}")
    if env.guest_vmx and not (vmx_cpus and ept):
        raise DunelabError(f"the guest should have VMX and EPT but shows {summary}")
    env.guest_vmx = bool(vmx_cpus and ept)
    return summary


def stage_build(ctx: RunContext) -> str:
    """dune.ko, libdune and the scenarios' programs, built in the booted image's rootfs (cached)."""
    from .provisioning import build

    art = ctx.artifacts = build(ctx.lab, [s for s, _ in ctx.plan])
    ctx.env.artifacts_key = art.key
    built = sum(len(p) for p in art.scenario_programs.values())
    failed = "; ".join(f"{n}: {e.splitlines()[0]}" for n, e in art.build_errors.items())
    return (f"dune.ko, libdune, {len(art.guest_tests)} self-tests, {len(art.hostile_tests)} hostile programs, "
            f"{built} scenario programs" + (f"; build FAILED for {failed}" if failed else ""))


def _dune_backend(ctx: RunContext) -> str:
    """What runs libdune's guest on this lab (a fleet host's stand-in spec has no say: dune.ko)."""
    return getattr(ctx.lab.spec, "dune_backend", "dune")


def stage_install_dune(ctx: RunContext) -> str:
    if not any("dune" in r.needs for _, rows in ctx.plan for r in rows):
        raise Skipped("no selected row needs Dune")
    if _dune_backend(ctx) == "kvm":
        return _install_dune_on_kvm(ctx)
    if not ctx.env.guest_vmx:
        raise Skipped(f"{ctx.env.backend} guests have no VMX: Dune cannot run there")
    from .provisioning import install_dune

    install_dune(ctx.lab, ctx.artifacts)
    ctx.dune_installed = True
    return f"dune.ko loaded, libdune and its test programs installed (artifacts {ctx.artifacts.key[:12]})"


def _install_dune_on_kvm(ctx: RunContext) -> str:
    """The KVM back end: the guest kernel's own kvm_intel (VT-x + EPT) or kvm_amd (SVM + NPT), no dune.ko."""
    env = ctx.env
    if not (env.guest_vmx or env.guest_svm):
        raise Skipped(f"{env.backend} guests have neither VT-x with EPT nor SVM with NPT: no KVM for Dune")
    from .provisioning import install_dune

    vendor = "kvm_intel" if env.guest_vmx else "kvm_amd"
    install_dune(ctx.lab, ctx.artifacts, kvm_module=vendor)
    ctx.dune_installed = True
    return (f"{vendor} loaded (/dev/kvm), libdune and its test programs installed, no dune.ko "
            f"(artifacts {ctx.artifacts.key[:12]})")


def stage_install_scenarios(ctx: RunContext) -> str:
    from .provisioning import install_scenarios

    installed = install_scenarios(ctx.lab, ctx.artifacts)
    return f"{len(installed)} programs for {', '.join(ctx.artifacts.scenario_programs) or 'no scenario'}"


def stage_scenarios(ctx: RunContext) -> str:
    env = ctx.env
    profile = env.clock or "emulated"
    for s, _ in ctx.plan:
        ctx.record.scenarios[s.name] = ScenarioInfo.of(s, profile).to_json()
    dune_backend = _dune_backend(ctx)
    facts = LabFacts(vmx=bool(env.guest_vmx), dune=ctx.dune_installed, backend=env.backend,
                     broken=dict(ctx.artifacts.build_errors) if ctx.artifacts else {},
                     dune_backend=dune_backend, kvm=ctx.dune_installed and dune_backend == "kvm")
    total = sum(r.repeat for _, rows in ctx.plan for r in rows)
    lab = ctx.lab

    def record(res: RowResult) -> None:
        ctx.record.rows.append(res)
        ctx.save()

    def vm_alive() -> bool:
        return lab.running() is not None

    with step(f"running {total} scenario row{'s' if total != 1 else ''}", total=total) as s:
        def progress(msg: str) -> None:
            if ":" in msg:          # "<row>: <status> ...": one line per finished attempt
                s.update("", advance=1)
                console.print(f"   {msg}", soft_wrap=True)
            else:                   # "<row>": started; shown on the bar (and every 10 s in CI logs)
                s.update(f"{msg} ...")

        results = _run_rows(lambda: lab.channel().connection, ctx.plan, facts, profile, record,
                            ctx.out_dir / "rows", vm_alive, progress)
    _save_kernel_log(ctx)
    bad = [r for r in results if r.status not in (PASSED, "skipped")]
    summary = _counts(results)
    if bad:
        raise DunelabError(f"{summary}; not passed: {', '.join(r.id for r in bad[:12])}"
                           + (" ..." if len(bad) > 12 else ""))
    return summary


def _run_rows(*args, **kwargs) -> list[RowResult]:
    from .runner import run_rows

    return run_rows(*args, **kwargs)


def _counts(results: list[RowResult]) -> str:
    c: dict[str, int] = {}
    for r in results:
        c[r.status] = c.get(r.status, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in c.items()) or "no rows"


def _save_kernel_log(ctx: RunContext) -> None:
    """The guest's kernel log at the end of the scenarios (the rows' own checks come first)."""
    try:
        out = ctx.lab.channel().run("dmesg", hide=True, warn=True, timeout=120).stdout
    except Exception as e:   # the VM may be gone; that is recorded by the rows already
        out = f"(kernel log not available: {type(e).__name__}: {e})\n"
    path = ctx.out_dir / "kernel.log"
    path.write_text(out)
    ctx.record.files["kernel log"] = path.name


LAB_RUN_STAGES: list[tuple[str, Callable[[RunContext], str]]] = [
    ("image", stage_image),
    ("up", stage_up),
    ("check-vmx", stage_check_vmx),
    ("build", stage_build),
    ("install-dune", stage_install_dune),
    ("install-scenarios", stage_install_scenarios),
    ("scenarios", stage_scenarios),
]

RUN_STAGES: list[tuple[str, Callable[[RunContext], str]]] = [
    ("attach", stage_attach),
    ("check-vmx", stage_check_vmx),
    ("build", stage_build),
    ("install-dune", stage_install_dune),
    ("install-scenarios", stage_install_scenarios),
    ("scenarios", stage_scenarios),
]


# ---------------------------------------------------------------------------- drivers
def _new_context(spec: LabSpec, plan: Plan, out_dir: Path | None) -> RunContext:
    started = dt.datetime.now(dt.UTC)
    run_id = f"{spec.name}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    out = out_dir or paths.results_dir() / run_id
    host = f"{platform.node()} {platform.machine()} {platform.release()}"
    record = RunRecord(run_id=run_id, started=started.isoformat(timespec="seconds"),
                       env=Environment(lab=spec.name, host=host))
    return RunContext(Lab(spec), out, record, plan)


def _run_stages(ctx: RunContext, stages: list[tuple[str, Callable[[RunContext], str]]],
                catch: tuple[type[BaseException], ...] = (DunelabError,)) -> bool:
    """Run `stages` in order until one fails; a failure is one of `catch` (fleet runs also catch
    connection errors, so a host that drops out is recorded instead of ending its thread)."""
    ok = True
    for name, fn in stages:
        t0 = time.monotonic()
        console.print(f"[bold cyan]== {name}[/bold cyan]")
        try:
            detail, status = fn(ctx), "ok"
        except Skipped as e:
            detail, status = str(e), "skipped"
        except catch as e:
            detail = str(e) if isinstance(e, DunelabError) else f"{type(e).__name__}: {e}"
            status, ok = "failed", False
        ctx.record.stages.append(StageResult(name, status, round(time.monotonic() - t0, 1), detail))
        ctx.save()
        console.print(f"   {status}: {detail}", soft_wrap=True)
        if not ok:
            break
    return ok


def _finish(ctx: RunContext, ok: bool) -> None:
    from .report import render

    rec = ctx.record
    rec.success = ok and all(r.status != FAILED and r.status != "error" for r in rec.rows)
    rec.finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rec.boots = ctx.lab.boot_history()
    for role, src in ctx.extra_files.items():
        if src.exists():
            if src.parent.resolve() != ctx.out_dir.resolve():
                shutil.copy2(src, ctx.out_dir / src.name)
            rec.files[role] = src.name
    ctx.save()
    rec.files["results"] = "results.json"
    files = render(rec, ctx.out_dir)
    rec.files.update(report=files.markdown.name, html=files.html.name)
    ctx.save()
    console.print(f"results: {ctx.out_dir / 'results.json'}\nreport:  {files.markdown}\nhtml:    {files.html}")


def plan_for(names: list[str] | None = None, groups: list[str] | None = None) -> Plan:
    return select(discover(), names or [], groups or [])


def run_lab(spec: LabSpec, keep_up: bool = False, plan: Plan | None = None,
            out_dir: Path | None = None) -> tuple[Path, bool]:
    """`dunelab lab run`: every stage on a fresh VM; returns (results dir, success)."""
    ctx = _new_context(spec, plan if plan is not None else plan_for(), out_dir)
    ok = False
    try:
        ok = _run_stages(ctx, LAB_RUN_STAGES)
    finally:
        if not keep_up:
            t0 = time.monotonic()
            try:
                msg, status = ctx.lab.down(), "ok"
            except DunelabError as e:
                msg, status, ok = str(e), "failed", False
            ctx.record.stages.append(StageResult("down", status, round(time.monotonic() - t0, 1), msg))
        ctx.extra_files["console log"] = ctx.lab.console_record(ctx.out_dir / "console.log")
        _finish(ctx, ok)
    return ctx.out_dir, bool(ctx.record.success)


def run_scenarios(spec: LabSpec, plan: Plan, out_dir: Path | None = None) -> tuple[Path, bool]:
    """`dunelab run`: the scenarios on a lab that is already up (left up afterwards)."""
    ctx = _new_context(spec, plan, out_dir)
    ok = False
    try:
        ok = _run_stages(ctx, RUN_STAGES)
    finally:
        # a snapshot: the lab stays up
        ctx.extra_files["console log"] = ctx.lab.console_record(ctx.out_dir / "console.log")
        _finish(ctx, ok)
    return ctx.out_dir, bool(ctx.record.success)
