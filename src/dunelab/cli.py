"""The `dunelab` command: doctor, image build, up, exec, ssh, provision, run, report, down, status, lab run.

Errors the user can act on (DunelabError) print as one line and exit 2; SIGTERM and SIGHUP unwind like
Ctrl-C, so a booting VM is killed on the way out instead of being left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from . import __version__, hostinfo
from .errors import DunelabError
from .lab import Lab
from .labdef import load_lab
from .progress import console


def cmd_doctor(args: argparse.Namespace) -> int:
    host = hostinfo.probe()
    console.print(f"[bold]CPU[/bold]        {host.cpu_vendor}; "
                  f"vmx={'yes' if 'vmx' in host.cpu_flags else 'no'} svm={'yes' if 'svm' in host.cpu_flags else 'no'}")
    kvm = "absent"
    if host.kvm_device:
        kvm = f"present, provided by {host.kvm_module or 'an unknown module'}"
        if host.kvm_module == "kvm_intel":
            kvm += f", nested VMX {'on' if host.kvm_intel_nested else 'off'}"
    console.print(f"[bold]/dev/kvm[/bold]   {kvm}")
    for tool in hostinfo.TOOLS:
        path = host.tools.get(tool)
        version = hostinfo.tool_version(tool) if path and tool in ("qemu-system-x86_64", "bochs") else None
        console.print(f"[bold]{tool:<11}[/bold]{' ' + path if path else ' missing'}"
                      f"{'  (' + version + ')' if version else ''}")
    backend, why = hostinfo.choose_backend("auto", host)
    console.print(f"[bold]auto[/bold]       picks [green]{backend}[/green]: {why}")
    from .backends import BACKENDS
    for name, cls in BACKENDS.items():
        try:
            cls().check_host(host)
            verdict = "usable" + ("" if cls.guest_has_vmx else " (no VMX in the guest: Dune scenarios skip)")
        except DunelabError as e:
            verdict = f"unusable: {e}"
        console.print(f"  {name:<9} {verdict}")
    return 0


def cmd_image_build(args: argparse.Namespace) -> int:
    from .images import build_image, load_recipe

    result = build_image(load_recipe(args.recipe), force=args.force)
    console.print(result.message)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(load_lab(args.lab))
    r = lab.up(backend_override=args.backend)
    if r.already_up:
        console.print(f"lab {lab.spec.name} is already up ({r.backend}, ssh 127.0.0.1:{r.ssh_port})")
    else:
        console.print(f"lab {lab.spec.name} is up on [green]{r.backend}[/green] ({r.why}); "
                      f"SSH answered [bold]{r.boot_seconds:.1f}s[/bold] after start; ssh 127.0.0.1:{r.ssh_port}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise DunelabError("exec needs a command: dunelab exec -- CMD [ARGS...]")
    lab = Lab(load_lab(args.lab))
    lab.require_up()
    import shlex

    result = lab.channel().run(shlex.join(command) if len(command) > 1 else command[0],
                               timeout=args.timeout or lab.spec.command_timeout)
    return result.exited


def cmd_ssh(args: argparse.Namespace) -> int:
    argv = Lab(load_lab(args.lab)).ssh_argv(args.command[1:] if args.command[:1] == ["--"] else args.command)
    os.execv(argv[0], argv)


def cmd_down(args: argparse.Namespace) -> int:
    console.print(Lab(load_lab(args.lab)).down())
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    st = Lab(load_lab(args.lab)).status()
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        for k, v in st.items():
            console.print(f"[bold]{k:<14}[/bold]{v}")
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    from .provisioning import provision
    from .scenarios import discover

    lab = Lab(load_lab(args.lab))
    art = provision(lab, discover())
    console.print(f"Dune installed in lab {lab.spec.name}: dune.ko, libdune, {len(art.guest_tests)} guest tests, "
                  f"{len(art.hostile_tests)} hostile programs, {len(art.payloads)} ring-3 payloads, "
                  f"scenario programs for {', '.join(art.scenario_programs) or 'none'} (artifacts {art.dir})")
    for name, err in art.build_errors.items():
        console.print(f"[red]scenario {name} did not build:[/red] {err}", soft_wrap=True)
    return 0 if not art.build_errors else 1


def _out_dir(args: argparse.Namespace) -> Path | None:
    return Path(args.out).resolve() if getattr(args, "out", None) else None


def cmd_lab_run(args: argparse.Namespace) -> int:
    from .pipeline import plan_for, run_lab

    plan = plan_for(args.scenarios, args.group)
    _, ok = run_lab(load_lab(args.lab), keep_up=args.keep_up, plan=plan, out_dir=_out_dir(args))
    return 0 if ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import plan_for, run_scenarios
    from .scenarios import discover

    if args.list:
        for s in discover():
            console.print(f"[bold]{s.name}[/bold]  {s.description}")
            for r in s.rows:
                console.print(f"  {r.id:<36} needs {','.join(r.needs) or '-':<9} groups {','.join(r.groups) or '-'}")
        return 0
    plan = plan_for(args.scenarios, args.group)
    lab = Lab(load_lab(args.lab))
    lab.require_up()
    _, ok = run_scenarios(lab.spec, plan, out_dir=_out_dir(args))
    return 0 if ok else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, to_text
    from .records import RunRecord

    c = compare(RunRecord.load(Path(args.old)), RunRecord.load(Path(args.new)), threshold=args.threshold / 100)
    print(to_text(c))
    return 1 if c.regressions else 0


def cmd_report(args: argparse.Namespace) -> int:
    from .records import RunRecord
    from .report import render

    record = RunRecord.load(Path(args.dir))
    files = render(record, Path(args.dir))
    console.print(f"report: {files.markdown}\nhtml:   {files.html}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dunelab", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"dunelab {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def lab_cmd(name: str, func, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.add_argument("--lab", default="default", help="lab name (labs/NAME.yaml) or path to a lab YAML")
        sp.set_defaults(func=func)
        return sp

    sub.add_parser("doctor", help="what this host can do and which backend `auto` picks").set_defaults(func=cmd_doctor)

    img = sub.add_parser("image", help="guest images").add_subparsers(dest="image_cmd", required=True, metavar="ACTION")
    b = img.add_parser("build", help="build (or reuse) a guest image from a recipe")
    b.add_argument("--recipe", default="images/bookworm.yaml", type=Path)
    b.add_argument("--force", action="store_true", help="rebuild even if the cache is up to date")
    b.set_defaults(func=cmd_image_build)

    up = lab_cmd("up", cmd_up, "boot the lab's VM and wait until SSH answers")
    up.add_argument("--backend", choices=["auto", "bochs", "qemu-kvm", "qemu-tcg"], help="override the lab's backend")
    ex = lab_cmd("exec", cmd_exec, "run a command in the guest: dunelab exec -- CMD")
    ex.add_argument("--timeout", type=float, help="seconds (default: the lab's timeouts.command)")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ssh = lab_cmd("ssh", cmd_ssh, "interactive SSH into the guest")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    lab_cmd("provision", cmd_provision, "build Dune for the guest's kernel and install it into the running lab")
    lab_cmd("down", cmd_down, "stop the lab's VM")
    run = sub.add_parser("lab", help="whole-lab workflows").add_subparsers(dest="lab_cmd", required=True,
                                                                           metavar="ACTION")
    r = run.add_parser("run", help="end to end: image, VM, install Dune, every scenario, report; then down")
    r.add_argument("--lab", default="default", help="lab name (labs/NAME.yaml) or path to a lab YAML")
    r.add_argument("--keep-up", action="store_true", help="leave the VM running afterwards")
    _selection_args(r)
    r.set_defaults(func=cmd_lab_run)
    sc = lab_cmd("run", cmd_run, "run scenarios on a lab that is up; results and report under results/")
    _selection_args(sc)
    sc.add_argument("--list", action="store_true", help="list the scenarios and their rows, run nothing")
    rep = sub.add_parser("report", help="render report.md and report.html again from a results directory")
    rep.add_argument("dir", help="a results directory (holds results.json)")
    rep.set_defaults(func=cmd_report)
    cmp_ = sub.add_parser("compare", help="every metric of two runs side by side; exit 1 on a regression")
    cmp_.add_argument("old", help="results directory (or results.json) of the reference run")
    cmp_.add_argument("new", help="results directory (or results.json) of the run to judge")
    cmp_.add_argument("--threshold", type=float, default=5.0,
                      help="percent a median must worsen, beyond its 95%% bootstrap interval (default 5)")
    cmp_.set_defaults(func=cmd_compare)
    st = lab_cmd("status", cmd_status, "is the lab up, on which backend and port")
    st.add_argument("--json", action="store_true")
    return p


def _selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO[/ROW]", help="what to run (default: every scenario)")
    p.add_argument("--group", action="append", default=[], help="only rows in this group (repeatable)")
    p.add_argument("--out", help="results directory (default: results/LAB-TIMESTAMP)")


def _unwind_on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _unwind_on_signal)
    try:
        return args.func(args) or 0
    except DunelabError as e:
        console.print(f"[red]dunelab: error:[/red] {e}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]dunelab: interrupted[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
