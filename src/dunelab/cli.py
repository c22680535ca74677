"""The `dunelab` command: images and boxes, labs, scenario runs on a lab or a fleet of hosts, reports.

doctor, image build/box, up, exec, ssh, provision, run [--hosts], report, compare, down, status, lab run,
vagrant settings.

Errors the user can act on (DunelabError) print as one line and exit 2; SIGTERM and SIGHUP unwind like
Ctrl-C, so a booting VM is killed on the way out instead of being left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
        version = hostinfo.tool_version(tool, path) if path and tool in ("qemu-system-x86_64", "bochs") else None
        console.print(f"[bold]{tool:<11}[/bold]{' ' + path if path else ' missing'}"
                      f"{'  (' + version + ')' if version else ''}")
    backend, why = hostinfo.choose_backend("auto", host)
    console.print(f"[bold]auto[/bold]       picks [green]{backend}[/green]: {why}")
    from .vagrant import choose_driver

    driver, cpu_mode, _, vwhy = choose_driver(host)
    found = "found" if shutil.which("vagrant") else "missing (scripts/vagrant-host)"
    console.print(f"[bold]vagrant[/bold]    {found}; the Vagrantfile would use libvirt driver {driver}, "
                  f"cpu {cpu_mode}: {vwhy}")
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


def cmd_image_box(args: argparse.Namespace) -> int:
    from .box import build_box
    from .images import build_image, load_recipe

    built = build_image(load_recipe(args.recipe))
    console.print(built.message)
    result = build_box(built.image, force=args.force)
    console.print(result.message)
    console.print(f"box:     {result.box.box_file}\ncatalog: {result.box.catalog}")
    if not args.no_add:
        from .vagrant import add_box, prune_boxes

        console.print(add_box(result.box))
        for gone in prune_boxes(result.box.name, keep=result.box.version):
            console.print(f"removed the older {gone}")
    return 0


def cmd_vagrant_settings(args: argparse.Namespace) -> int:
    from .vagrant import dump, settings

    s = settings(hostinfo.probe(), recipe=args.recipe.resolve() if args.recipe else None)
    if args.json:
        print(dump(s))
    else:
        for k, v in s.to_json().items():
            console.print(f"[bold]{k:<10}[/bold]{v}")
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
    if args.hosts:
        from .fleet import run_fleet
        from .inventory import load_inventory

        result = run_fleet(load_inventory(args.hosts), plan, out_dir=_out_dir(args), allow_bare_metal=args.bare_metal)
        return 0 if result.success else 1
    if args.bare_metal:
        raise DunelabError("--bare-metal only goes with --hosts INVENTORY")
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


def cmd_nightly(args: argparse.Namespace) -> int:
    from .nightly import ALL_BACKENDS, archive_dir, run_nightly

    bad = [b for b in args.backend if b not in ALL_BACKENDS]
    if bad:
        raise DunelabError(f"--backend {bad[0]}: must be one of {', '.join(ALL_BACKENDS)}")
    night, out = run_nightly(Path(args.archive).resolve() if args.archive else archive_dir(), only=args.backend,
                             extra=args.run_args)
    console.print((night / "summary.md").read_text(), soft_wrap=True, markup=False)
    ran = [b for b in out if b.ran]
    if not ran:
        console.print("[red]nightly: no backend could run on this host[/red]")
        return 1
    return 0 if all(b.ok for b in out) else 1


def cmd_report(args: argparse.Namespace) -> int:
    from .fleet import FLEET_FILE, load_fleet
    from .records import RunRecord
    from .report import render, render_fleet

    if (Path(args.dir) / FLEET_FILE).is_file():     # a fleet run: a column per host
        meta, records = load_fleet(Path(args.dir))
        files = render_fleet(meta, records, Path(args.dir))
    else:
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
    bx = img.add_parser("box", help="package the image's disk as a vagrant-libvirt box and add it to vagrant")
    bx.add_argument("--recipe", default="images/bookworm.yaml", type=Path)
    bx.add_argument("--force", action="store_true", help="rebuild the box even if the cache is up to date")
    bx.add_argument("--no-add", action="store_true", help="only build the .box; do not `vagrant box add` it")
    bx.set_defaults(func=cmd_image_box)
    vg = sub.add_parser("vagrant", help="what the project's Vagrantfile uses").add_subparsers(
        dest="vagrant_cmd", required=True, metavar="ACTION")
    vs = vg.add_parser("settings", help="box, libvirt driver and CPU mode for this host, and why")
    vs.add_argument("--json", action="store_true")
    vs.add_argument("--recipe", type=Path, help="image recipe of the box (default images/bookworm.yaml)")
    vs.set_defaults(func=cmd_vagrant_settings)

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
    sc.add_argument("--hosts", metavar="INVENTORY", help="run on every host of this inventory (YAML) in parallel, "
                    "over SSH, instead of on a lab; results DIR/HOST/ and one report with a column per host")
    sc.add_argument("--bare-metal", action="store_true",
                    help="allow inventory hosts marked bare_metal: dune.ko is loaded into THEIR OWN kernels")
    rep = sub.add_parser("report", help="render report.md and report.html again from a results directory")
    rep.add_argument("dir", help="a results directory (holds results.json)")
    rep.set_defaults(func=cmd_report)
    cmp_ = sub.add_parser("compare", help="every metric of two runs side by side; exit 1 on a regression")
    cmp_.add_argument("old", help="results directory (or results.json) of the reference run")
    cmp_.add_argument("new", help="results directory (or results.json) of the run to judge")
    cmp_.add_argument("--threshold", type=float, default=5.0,
                      help="percent a median must worsen, beyond its 95%% bootstrap interval (default 5)")
    cmp_.set_defaults(func=cmd_compare)
    ni = sub.add_parser("nightly", help="every scenario on every backend here; compare with the previous night")
    ni.add_argument("--archive", help="where nights are kept (default $DUNELAB_NIGHTLY_DIR or results/nightly)")
    ni.add_argument("--backend", action="append", default=[], help="only this backend (repeatable)")
    ni.add_argument("run_args", nargs="*", metavar="SCENARIO[/ROW]", help="what to run (default: every scenario)")
    ni.set_defaults(func=cmd_nightly)
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
