"""`dunelab nightly` (what `nox -s nightly` runs): every scenario on every backend this host can run,
each night's results kept, each backend compared with its previous night (`dunelab compare`), and a
failure on any regression.

    ARCHIVE/                      $DUNELAB_NIGHTLY_DIR, default results/nightly (keep it across runs:
      20261129T020000Z/           on CI, a directory the runner keeps, not the checkout)
        bochs/ qemu-tcg/ ...      one `dunelab lab run` (or Vagrant) results directory per backend
        compare-bochs.txt         `dunelab compare` against the previous night's bochs/
        summary.md, summary.json  one line per backend: ran or why not, passed, regressions

Backends: bochs and qemu-tcg wherever their emulators are installed; qemu-kvm where /dev/kvm is
kvm_intel with nested VMX; vagrant-libvirt where vagrant, the plugin and libvirtd answer (then the
box is rebuilt if needed, `vagrant up` provisions and runs through the Vagrantfile's dunelab
provisioner, and `vagrant destroy` must leave libvirt as it found it). A backend that cannot run here
is listed with the reason and is not a failure; one that fails to run is.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import PROJECT_ROOT, backends, hostinfo
from .errors import DunelabError, HostError
from .progress import console

LAB_BACKENDS = ("bochs", "qemu-tcg", "qemu-kvm")
VAGRANT = "vagrant-libvirt"
ALL_BACKENDS = (*LAB_BACKENDS, VAGRANT)
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def archive_dir() -> Path:
    return Path(os.environ.get("DUNELAB_NIGHTLY_DIR") or PROJECT_ROOT / "results" / "nightly").resolve()


def vagrant_usable(which=shutil.which, run=subprocess.run) -> str | None:
    """None when vagrant-libvirt can run here, else why not."""
    if not which("vagrant"):
        return "vagrant is not installed (scripts/vagrant-host)"
    if not which("virsh"):
        return "libvirt's client is not installed (scripts/vagrant-host)"
    r = run(["virsh", "-q", "-c", "qemu:///system", "version"], capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        return "libvirtd does not answer (scripts/vagrant-host starts it)"
    r = run(["vagrant", "plugin", "list"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if "vagrant-libvirt" not in r.stdout:
        return "the vagrant-libvirt plugin is missing (scripts/vagrant-host)"
    return None


def available(host: hostinfo.HostInfo, vagrant_why_not: str | None) -> dict[str, str | None]:
    """backend -> None if it can run on this host, else why not."""
    out: dict[str, str | None] = {}
    for name in LAB_BACKENDS:
        try:
            backends.get(name).check_host(host)
            out[name] = None
        except HostError as e:
            out[name] = str(e)
    out[VAGRANT] = vagrant_why_not
    return out


def previous_night(archive: Path, backend: str, before: str) -> Path | None:
    """The newest earlier night (directory name < `before`) with a results.json for `backend`."""
    if not archive.is_dir():
        return None
    nights = sorted((d.name for d in archive.iterdir() if d.is_dir() and d.name < before), reverse=True)
    for n in nights:
        res = archive / n / backend
        if (res / "results.json").is_file():
            return res
        if (res / "fleet.json").is_file():          # vagrant: a one-host fleet run; compare its host
            hosts = json.loads((res / "fleet.json").read_text()).get("hosts", [])
            if hosts and (res / hosts[0]["dir"] / "results.json").is_file():
                return res / hosts[0]["dir"]
    return None


def results_of(run_dir: Path) -> Path | None:
    """The results.json directory of a backend's run (for a fleet directory, its only host's)."""
    if (run_dir / "results.json").is_file():
        return run_dir
    if (run_dir / "fleet.json").is_file():
        hosts = json.loads((run_dir / "fleet.json").read_text()).get("hosts", [])
        if hosts and (run_dir / hosts[0]["dir"] / "results.json").is_file():
            return run_dir / hosts[0]["dir"]
    return None


@dataclass
class BackendNight:
    backend: str
    ran: bool
    why_not: str = ""
    passed: bool = False
    seconds: float = 0.0
    results: str = ""
    previous: str = ""
    regressions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)    # the run failed, leftovers, ...

    @property
    def ok(self) -> bool:
        return not self.ran or (self.passed and not self.regressions and not self.problems)


def lab_file(night: Path, backend: str) -> Path:
    """labs/default.yaml for `backend`, renamed so it never collides with a developer's own lab."""
    d = yaml.safe_load((PROJECT_ROOT / "labs" / "default.yaml").read_text())
    d.update(name=f"nightly-{backend}", backend=backend, ssh={"port": 0})
    path = night / f"lab-{backend}.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _dunelab(*args: str, timeout: float, env: dict | None = None) -> int:
    cmd = [sys.executable, "-m", "dunelab.cli", *args]
    console.print(f"[bold]$ dunelab {' '.join(args)}[/bold]")
    return subprocess.run(cmd, cwd=PROJECT_ROOT, timeout=timeout, env={**os.environ, **(env or {})}).returncode


def run_lab_backend(night: Path, backend: str, extra: list[str]) -> int:
    return _dunelab("lab", "run", "--lab", str(lab_file(night, backend)), "--out", str(night / backend), *extra,
                    timeout=6 * 3600)


def run_vagrant(night: Path, extra: list[str]) -> tuple[int, list[str]]:
    """Box, `vagrant up` (the provisioner runs the scenarios into night/vagrant-libvirt), `vagrant destroy`;
    returns (status, problems) where problems lists what destroy left behind."""
    from .vagrant import is_box_volume, libvirt_inventory

    problems: list[str] = []
    if _dunelab("image", "box", timeout=3600) != 0:
        return 1, ["`dunelab image box` failed"]
    before = libvirt_inventory()
    env = {**os.environ, "VAGRANT_DOTFILE_PATH": str(night / "vagrant-dot"),
           "DUNELAB_VAGRANT_PREFIX": "dunelab-nightly-", "DUNELAB_RESULTS_DIR": str(night / VAGRANT),
           "DUNELAB_RUN": " ".join(extra), "VAGRANT_NO_COLOR": "1"}
    try:
        console.print("[bold]$ vagrant up --provider=libvirt[/bold]")
        status = subprocess.run(["vagrant", "up", "--provider=libvirt"], cwd=PROJECT_ROOT, env=env,
                                timeout=6 * 3600).returncode
    finally:
        console.print("[bold]$ vagrant destroy -f[/bold]")
        if subprocess.run(["vagrant", "destroy", "-f"], cwd=PROJECT_ROOT, env=env, timeout=900).returncode != 0:
            problems.append("`vagrant destroy -f` failed")
    after = libvirt_inventory()
    for kind in ("domains", "networks", "volumes"):
        left = [x for x in after[kind] if x not in before[kind] and not (kind == "volumes" and is_box_volume(x))]
        if left:
            problems.append(f"vagrant destroy left {kind}: {', '.join(left)}")
    return status, problems


def times_are_judged(env) -> bool:
    """Whether a run's times can be held against another night's: hardware cycles on a dedicated runner,
    and Bochs' emulated ticks (they count emulated instructions, whatever the host's load). QEMU TCG's
    guest clock follows the host's: on a shared machine two nights differ by 2x in either direction
    (measured), so there only row outcomes and events per operation are judged; times are shown."""
    return env.clock == "hardware" or env.backend == "bochs"


def compare_with_previous(archive: Path, night: Path, backend: str) -> tuple[str, list[str]]:
    """(previous results dir or "", regressions); writes night/compare-<backend>.txt."""
    from .compare import Comparison, compare, to_text
    from .records import RunRecord

    new = results_of(night / backend)
    prev = previous_night(archive, backend, night.name)
    if new is None or prev is None:
        return (str(prev) if prev else ""), []
    rec = RunRecord.load(new)
    c = compare(RunRecord.load(prev), rec)
    text, regressions = to_text(c), c.regressions
    if not times_are_judged(rec.env):
        timing = set(Comparison(c.old, c.new, c.threshold, metrics=c.metrics).regressions)
        regressions = [r for r in regressions if r not in timing]
        text += (f"\nnightly: times on {rec.env.backend} follow the host's load (QEMU TCG): shown, not judged; "
                 f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''} in outcomes and events")
    (night / f"compare-{backend}.txt").write_text(text + "\n")
    return str(prev), regressions


def run_nightly(archive: Path | None = None, only: list[str] | None = None, extra: list[str] | None = None,
                now: dt.datetime | None = None,
                runners: dict[str, Callable[[Path], tuple[int, list[str]]]] | None = None,
                availability: dict[str, str | None] | None = None) -> tuple[Path, list[BackendNight]]:
    """Run the night; returns (night directory, one BackendNight per backend). `runners` and
    `availability` exist for tests."""
    archive = archive or archive_dir()
    stamp = (now or dt.datetime.now(dt.UTC)).strftime(STAMP_FORMAT)
    night = archive / stamp
    night.mkdir(parents=True, exist_ok=False)
    extra = extra or []
    if availability is None:
        availability = available(hostinfo.probe(), vagrant_usable())
    runners = runners or {b: (lambda n, b=b: (run_lab_backend(n, b, extra), [])) for b in LAB_BACKENDS}
    runners.setdefault(VAGRANT, lambda n: run_vagrant(n, extra))
    out: list[BackendNight] = []
    for backend in ALL_BACKENDS:
        if only and backend not in only:
            continue
        why = availability.get(backend)
        if why:
            console.print(f"[yellow]nightly: {backend} cannot run here: {why}[/yellow]")
            out.append(BackendNight(backend, False, why_not=why))
            continue
        console.print(f"[bold cyan]== nightly: {backend}[/bold cyan]")
        t0 = time.monotonic()
        try:
            status, problems = runners[backend](night)
        except (DunelabError, OSError, subprocess.TimeoutExpired) as e:
            status, problems = 1, [f"{type(e).__name__}: {e}"]
        bn = BackendNight(backend, True, passed=status == 0, seconds=round(time.monotonic() - t0, 1),
                          problems=problems)
        res = results_of(night / backend)
        bn.results = str(res.relative_to(archive)) if res else ""
        if res is None:
            bn.problems.append("the run wrote no results")
        else:
            try:
                prev, bn.regressions = compare_with_previous(archive, night, backend)
                bn.previous = str(Path(prev).relative_to(archive)) if prev else ""
            except DunelabError as e:
                bn.problems.append(f"compare: {e}")
        out.append(bn)
        _write_summary(night, out)
    _write_summary(night, out)
    return night, out


def _write_summary(night: Path, out: list[BackendNight]) -> None:
    (night / "summary.json").write_text(json.dumps([asdict(b) for b in out], indent=1) + "\n")
    lines = [f"# dunelab nightly {night.name}", "",
             "| backend | ran | result | seconds | compared with | regressions | problems |",
             "|---|---|---|---|---|---|---|"]
    for b in out:
        if not b.ran:
            lines.append(f"| {b.backend} | no: {b.why_not} | | | | | |")
            continue
        lines.append(f"| {b.backend} | yes | {'passed' if b.passed else 'FAILED'} | {b.seconds:.0f} | "
                     f"{b.previous or 'nothing (first night)'} | {len(b.regressions)} | {'; '.join(b.problems)} |")
    for b in out:
        for r in b.regressions:
            lines.append(f"- {b.backend}: regression: {r}")
    (night / "summary.md").write_text("\n".join(lines) + "\n")
