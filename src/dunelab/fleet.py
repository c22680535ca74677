"""`dunelab run --hosts INVENTORY`: provision and run the scenarios on many existing hosts at once.

One thread per host runs that host's pipeline — the same stage functions, Fabric tasks and row runner
as `dunelab run` on a lab — over the host's own SSH connection, and writes the host's RunRecord to
DIR/<host>/results.json (with its own report). A host whose connection fails, whose build fails, or
that drops out mid-run gets its failure recorded; the other hosts go on. When every thread is done,
DIR/fleet.json lists the hosts and their outcome and DIR/report.{md,html} shows them side by side,
a column per host (report.render_fleet).

How Dune gets onto a host (inventory field `artifacts`):
  image         the host runs a dunelab image (a lab guest, the Vagrant box): dune.ko, libdune and
                the scenarios are built once, here, in that image's rootfs, exactly as for a lab;
  remote-build  any other Linux host: the sources go over, the host builds against its own kernel
                headers and toolchain (provision/fabfile.py: remote_build), and the results come back
                to DUNELAB_HOME/build/remote-<host>-<key>/, so installing is the same for both kinds.
Hosts whose user is not root run every command through `sudo -n` (SudoConnection). dune.ko is
loaded only where the host has VMX; elsewhere it is installed, and `modprobe dune` must refuse
cleanly (ENODEV, nothing in the kernel log). A bare-metal host (inventory `bare_metal: true`) is
touched only with --bare-metal, and a host that looks like bare metal without saying so is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import invoke
import paramiko

from . import paths, pipeline
from .channel import Channel, Endpoint
from .errors import DunelabError
from .inventory import HostSpec, Inventory, bare_metal_warning, check_bare_metal
from .progress import console, labelled
from .records import Environment, RunRecord, StageResult

FLEET_FILE = "fleet.json"
FLEET_SCHEMA = "dunelab-fleet-v1"
EMULATORS = ("qemu", "bochs")      # systemd-detect-virt names of hosts whose TSC ticks are emulated
CONTAINERS = ("docker", "podman", "lxc", "lxc-libvirt", "systemd-nspawn", "openvz", "rkt", "wsl", "proot",
              "pouch", "container-other")


# ---------------------------------------------------------------------------- connections
class SudoConnection(invoke.Context):
    """A Fabric connection whose commands run as root through `sudo -n`, for hosts where we log in as
    someone else (Vagrant's `vagrant`, a cloud image's default user). Fabric tasks written for root
    (provision/fabfile.py, the row runner) use it unchanged: `put` lands in /tmp and is moved into
    place by root; `get` copies through /tmp. (An invoke Context, because Fabric tasks insist on one.)"""

    def __init__(self, conn):
        super().__init__(config=conn.config)
        self._set(_conn=conn)

    def run(self, command: str, **kwargs):
        return self._conn.run(f"sudo -n -H -- sh -c {shlex.quote(command)}", **kwargs)

    def put(self, local, remote: str, preserve_mode: bool = True):
        tmp = f"/tmp/dunelab-put-{os.urandom(6).hex()}"
        result = self._conn.put(local, tmp, preserve_mode=preserve_mode)
        self.run(f"mv -f {tmp} {shlex.quote(remote)} && chown root:root {shlex.quote(remote)}", hide=True)
        return result

    def get(self, remote: str, local):
        tmp = f"/tmp/dunelab-get-{os.urandom(6).hex()}"
        self.run(f"cp {shlex.quote(remote)} {tmp} && chmod 0644 {tmp}", hide=True)
        try:
            return self._conn.get(tmp, str(local))
        finally:
            self.run(f"rm -f {tmp}", hide=True, warn=True)

    def __getattr__(self, name):
        # Everything else (is_connected, client, close, host, ...) is the SSH connection's.
        return getattr(self.__dict__["_conn"], name)


def fetch_host_key(address: str, port: int, timeout: float = 30.0) -> paramiko.PKey:
    """The key a host's sshd presents (for host_key_policy: first-use; pinned from then on)."""
    sock = socket.create_connection((address, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()


def known_hosts_has(path: Path, name: str) -> bool:
    if not path.is_file():
        return False
    keys = paramiko.HostKeys(str(path))
    return keys.lookup(name) is not None


class HostChannel(Channel):
    """The SSH channel to an inventory host: its key (or the agent), its host key pinned from known_hosts
    (first-use: recorded there on the first contact), and sudo for non-root users."""

    def __init__(self, spec: HostSpec):
        super().__init__(Endpoint(spec.address, spec.port, spec.user, spec.key or Path(), spec.known_hosts),
                         connect_timeout=spec.connect_timeout)
        self.spec = spec
        self._lock = threading.Lock()

    def _prepare_known_hosts(self) -> None:
        spec = self.spec
        kh = spec.known_hosts
        if spec.host_key:
            kh.parent.mkdir(parents=True, exist_ok=True)
            kh.write_text(f"{spec.known_hosts_name} {' '.join(spec.host_key.split()[:2])}\n")
        elif spec.host_key_policy == "first-use" and not known_hosts_has(kh, spec.known_hosts_name):
            key = fetch_host_key(spec.address, spec.port, spec.connect_timeout)
            kh.parent.mkdir(parents=True, exist_ok=True)
            with open(kh, "a") as f:
                f.write(f"{spec.known_hosts_name} {key.get_name()} {key.get_base64()}\n")
            console.print(f"recorded {spec.known_hosts_name}'s {key.get_name()} host key in {kh} (first use)")

    def _new_connection(self):
        import fabric

        spec = self.spec
        self._prepare_known_hosts()
        config = fabric.Config(overrides={"load_ssh_configs": False, "run": {"in_stream": False}})
        kwargs: dict = {"banner_timeout": self.connect_timeout, "auth_timeout": self.connect_timeout}
        if spec.key:
            kwargs.update(key_filename=str(spec.key), look_for_keys=False, allow_agent=False)
        conn = fabric.Connection(spec.address, port=spec.port, user=spec.user, config=config,
                                 connect_timeout=self.connect_timeout, connect_kwargs=kwargs)
        if spec.known_hosts.is_file():
            conn.client.load_host_keys(str(spec.known_hosts))
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return conn

    @property
    def connection(self):
        with self._lock:
            conn = super().connection
        return conn if self.spec.user == "root" else SudoConnection(conn)


# ---------------------------------------------------------------------------- a host as a "lab"
@dataclass(frozen=True)
class _Name:
    name: str


class RemoteHost:
    """What the pipeline's stages need from a lab, for an inventory host: its channel, whether it is
    still there, the image its artifacts are built for."""

    def __init__(self, spec: HostSpec, image=None):
        self.host = spec
        self.spec = _Name(spec.name)
        self.image = image
        self.console_log = Path(os.devnull)
        self.artifacts = None          # image hosts: the Artifacts built before the threads (or why not)
        self._channel: HostChannel | None = None

    def channel(self) -> HostChannel:
        if self._channel is None:
            self._channel = HostChannel(self.host)
        return self._channel

    def running(self) -> dict | None:
        """Truthy while the host's sshd still answers (an SSH banner within 10 s): after a lost
        connection the runner asks whether the host is gone, and if so stops waiting for its rows."""
        try:
            with socket.create_connection((self.host.address, self.host.port), timeout=10) as s:
                s.settimeout(10)
                banner = s.recv(64)
        except OSError:
            return None
        return {"banner": banner.decode(errors="replace").strip()} if banner.startswith(b"SSH-") else None

    def booted_image(self):
        if self.image is None:
            if self.host.artifacts == "remote-build":
                raise DunelabError(f"host {self.host.name} builds its own artifacts (artifacts: remote-build)")
            raise DunelabError(self.artifacts if isinstance(self.artifacts, str)
                               else f"no image was built for host {self.host.name}")
        return self.image

    def boot_history(self) -> list[dict]:
        return []

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()


# ---------------------------------------------------------------------------- facts
@dataclass(frozen=True)
class HostFacts:
    kernel: str
    virt: str            # systemd-detect-virt: none, kvm, qemu, bochs, ...; "unknown" without the tool
    hypervisor_flag: bool
    box: dict            # /usr/lib/dunelab/box.json on hosts running a dunelab box
    uid: int

    @property
    def looks_bare_metal(self) -> bool:
        """dune.ko would go into a kernel no VM isolates: a physical machine's, or (in a container) the
        kernel the container shares with its machine."""
        return (self.virt == "none" or self.virt in CONTAINERS
                or (self.virt == "unknown" and not self.hypervisor_flag))


# systemd-detect-virt prints "none" (and exits 1) on bare metal; without it the answer is "unknown".
FACTS_SCRIPT = ("echo kernel=$(uname -r); echo uid=$(id -u); "
                "v=$(systemd-detect-virt 2>/dev/null); echo virt=${v:-unknown}; "
                "grep -qw hypervisor /proc/cpuinfo && echo hypervisor=1 || echo hypervisor=0; "
                "echo box=$(cat /usr/lib/dunelab/box.json 2>/dev/null | tr -d '\\n')")


def host_facts(conn) -> HostFacts:
    """What a host is, in one command (a plain function of a Connection, like a Fabric task)."""
    r = conn.run(FACTS_SCRIPT, hide=True, warn=True, timeout=120)
    if r.exited != 0:
        err = (r.stderr or r.stdout).strip().splitlines()
        raise DunelabError(f"cannot run commands as root: {err[-1] if err else f'exit status {r.exited}'}"
                           + (" (the SSH user needs passwordless sudo)" if "sudo" in r.stderr else ""))
    kv = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    try:
        box = json.loads(kv.get("box") or "{}")
    except ValueError:
        box = {}
    return HostFacts(kernel=kv.get("kernel", ""), virt=kv.get("virt", "unknown") or "unknown",
                     hypervisor_flag=kv.get("hypervisor") == "1", box=box, uid=int(kv.get("uid", "-1") or -1))


# ---------------------------------------------------------------------------- stages
def stage_connect(ctx: pipeline.RunContext) -> str:
    """SSH (pinned), root (directly or via sudo), what the host is; refuse unannounced bare metal."""
    host: RemoteHost = ctx.lab
    spec = host.host
    t0 = time.monotonic()
    try:
        facts = host_facts(host.channel().connection)
    except paramiko.BadHostKeyException as e:
        raise DunelabError(f"{spec.target}: host key mismatch ({e}); the key pinned in {spec.known_hosts} "
                           "is not the one the host presents") from None
    except paramiko.SSHException as e:
        hint = (" — pin its key: host_key: or known_hosts: in the inventory, or host_key_policy: first-use"
                if "not found in known_hosts" in str(e) else "")
        raise DunelabError(f"{spec.target}: SSH: {e}{hint}") from None
    except (OSError, EOFError) as e:
        raise DunelabError(f"{spec.target}: cannot connect: {type(e).__name__}: {e}") from None
    if facts.uid != 0:
        raise DunelabError(f"{spec.target}: commands do not run as root (uid {facts.uid})")
    if facts.looks_bare_metal and not spec.bare_metal:
        what = "a container" if facts.virt in CONTAINERS else "bare metal"
        raise DunelabError(f"{spec.target} looks like {what} (systemd-detect-virt: {facts.virt}, hypervisor "
                           f"flag {'on' if facts.hypervisor_flag else 'off'}): dune.ko would be loaded into a kernel "
                           "no VM isolates. If that is meant, mark it `bare_metal: true` and pass --bare-metal")
    if spec.bare_metal:
        console.print(f"[bold red]{bare_metal_warning([spec])}[/bold red]", soft_wrap=True)
    env = ctx.env
    env.guest_kernel = facts.kernel
    env.clock = spec.clock if spec.clock != "auto" else ("emulated" if facts.virt in EMULATORS else "hardware")
    kind = "bare metal" if spec.bare_metal else f"virtualization {facts.virt}"
    env.backend_why = f"{spec.target} over SSH ({kind}; artifacts: {spec.artifacts})"
    if facts.box:
        env.backend_why += f"; box {facts.box.get('name')} {facts.box.get('version')}"
    if spec.artifacts == "image":
        image = host.booted_image()
        env.image_key = image.key
        if facts.kernel != image.kernel_release:
            raise DunelabError(f"{spec.target} runs kernel {facts.kernel}, but image {image.name} was built for "
                               f"{image.kernel_release}: its dune.ko would not load there (artifacts: remote-build "
                               "builds on the host instead)")
        if facts.box.get("image_key") and facts.box["image_key"] != image.key:
            env.backend_why += f"; note: the box was made from image key {facts.box['image_key'][:12]}"
    return f"{spec.target}: kernel {facts.kernel}, {kind}, clock {env.clock} ({time.monotonic() - t0:.1f}s)"


def stage_build(ctx: pipeline.RunContext) -> str:
    """image: the artifacts built before the threads started (once per image); remote-build: on the host."""
    host: RemoteHost = ctx.lab
    if host.host.artifacts == "remote-build":
        from .remote_build import build_on_host

        ctx.artifacts = build_on_host(host, [s for s, _ in ctx.plan], ctx.env.guest_kernel or "")
    else:
        prepared = getattr(host, "artifacts", None)
        if isinstance(prepared, str) or prepared is None:
            raise DunelabError(prepared or "no artifacts were built for this host's image")
        ctx.artifacts = prepared
    art = ctx.artifacts
    ctx.env.artifacts_key = art.key
    failed = "; ".join(f"{n}: {e.splitlines()[0]}" for n, e in art.build_errors.items())
    return (f"{host.host.artifacts}: dune.ko, libdune, {len(art.guest_tests)} self-tests, "
            f"{sum(len(p) for p in art.scenario_programs.values())} scenario programs"
            + (f"; build FAILED for {failed}" if failed else ""))


def stage_install_dune(ctx: pipeline.RunContext) -> str:
    """Load dune.ko where the host has VMX; elsewhere install it and check that it refuses to load
    cleanly (the non-VMX check), with libdune and the test programs installed either way."""
    from .provisioning import install_dune, stripped, tasks

    host: RemoteHost = ctx.lab
    art = ctx.artifacts
    if ctx.env.guest_vmx:
        install_dune(host, art)
        ctx.dune_installed = True
        return f"dune.ko loaded on {ctx.env.guest_kernel}, libdune and test programs installed"
    t = tasks()
    c = host.channel().connection
    with stripped([art.kmod]) as (ko,):
        where = t.stage_module(c, ko)
    t.install_libdune(c, art.libdune)
    for kind, programs in (("guest", art.guest_tests), ("hostile", art.hostile_tests), ("payload", art.payloads)):
        with stripped(programs) as small:
            t.install_tests(c, small, kind)
    refusal = t.check_module_refuses(c)
    return f"no VMX: dune.ko installed ({where}), not loaded: {refusal}; libdune and test programs installed"


FLEET_STAGES: list[tuple[str, Callable[[pipeline.RunContext], str]]] = [
    ("connect", stage_connect),
    ("check-vmx", pipeline.stage_check_vmx),
    ("build", stage_build),
    ("install-dune", stage_install_dune),
    ("install-scenarios", pipeline.stage_install_scenarios),
    ("scenarios", pipeline.stage_scenarios),
]


# ---------------------------------------------------------------------------- the run
@dataclass
class HostOutcome:
    name: str
    dir: str                       # relative to the fleet directory
    success: bool
    failed_stage: str | None = None
    reason: str = ""
    target: str = ""
    bare_metal: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FleetResult:
    run_id: str
    dir: Path
    started: str
    finished: str = ""
    hosts: list[HostOutcome] = field(default_factory=list)
    inventory: str = ""

    @property
    def success(self) -> bool:
        return bool(self.hosts) and all(h.success for h in self.hosts)

    def to_json(self) -> dict:
        return {"schema": FLEET_SCHEMA, "run_id": self.run_id, "started": self.started, "finished": self.finished,
                "success": self.success, "inventory": self.inventory, "hosts": [h.to_json() for h in self.hosts]}

    def save(self) -> Path:
        path = self.dir / FLEET_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(tmp, path)
        return path


def load_fleet(d: Path) -> tuple[dict, dict[str, RunRecord]]:
    """fleet.json of a fleet results directory and each host's RunRecord (hosts without one are left out)."""
    try:
        meta = json.loads((d / FLEET_FILE).read_text())
    except (OSError, ValueError) as e:
        raise DunelabError(f"{d / FLEET_FILE}: {e}") from None
    if meta.get("schema") != FLEET_SCHEMA:
        raise DunelabError(f"{d / FLEET_FILE}: not a {FLEET_SCHEMA} file")
    records = {}
    for h in meta["hosts"]:
        if (d / h["dir"] / "results.json").is_file():
            records[h["name"]] = RunRecord.load(d / h["dir"])
    return meta, records


def prepare_images(inv: Inventory, plan: pipeline.Plan) -> dict[Path, tuple[object, object]]:
    """Build (or take from the caches) each image the `artifacts: image` hosts run, and its artifacts,
    once, before the host threads start. recipe -> (Image, Artifacts), or (None, error message)."""
    from .artifacts import build_artifacts
    from .images import build_image, load_recipe

    out: dict[Path, tuple[object, object]] = {}
    dirs = [Path(s.dir) for s, _ in plan if s.build == "make"]
    for recipe in sorted({h.image for h in inv.hosts if h.artifacts == "image"}):
        try:
            image = build_image(load_recipe(recipe)).image
            out[recipe] = (image, build_artifacts(image, scenarios=dirs))
        except DunelabError as e:
            out[recipe] = (None, f"building for image {recipe.name} failed: {e}")
    return out


def run_fleet(inv: Inventory, plan: pipeline.Plan, out_dir: Path | None = None, allow_bare_metal: bool = False,
              stages: list[tuple[str, Callable[[pipeline.RunContext], str]]] | None = None,
              make_host: Callable[[HostSpec], RemoteHost] | None = None,
              prepared: dict | None = None) -> FleetResult:
    """Every host of `inv` in parallel; returns the outcome per host. `stages`, `make_host` and
    `prepared` exist for tests (fake hosts, no builds)."""
    check_bare_metal(inv, allow_bare_metal)
    started = dt.datetime.now(dt.UTC)
    run_id = f"fleet-{inv.path.stem}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    out = (out_dir or paths.results_dir() / run_id).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "inventory.yaml").write_text(inv.path.read_text())
    result = FleetResult(run_id, out, started.isoformat(timespec="seconds"), inventory="inventory.yaml")
    if inv.bare_metal:
        console.print(f"[bold red]{bare_metal_warning(inv.bare_metal)}[/bold red] (--bare-metal given)", soft_wrap=True)
    stages = stages or FLEET_STAGES
    if prepared is None:
        console.print("[bold cyan]== building for the image hosts[/bold cyan]")
        prepared = prepare_images(inv, plan)
    hosts = []
    for spec in inv.hosts:
        host = make_host(spec) if make_host else RemoteHost(spec, image=prepared.get(spec.image, (None,))[0])
        host.artifacts = prepared.get(spec.image, (None, None))[1] if spec.artifacts == "image" else None
        hosts.append(host)
    console.print(f"[bold cyan]== {len(hosts)} host{'s' if len(hosts) != 1 else ''} in parallel:[/bold cyan] "
                  + ", ".join(f"{h.host.name} ({h.host.target})" for h in hosts))
    with ThreadPoolExecutor(max_workers=len(hosts), thread_name_prefix="dunelab-host") as pool:
        futures = [pool.submit(_run_host, h, plan, out, stages) for h in hosts]
        try:
            for f in futures:
                result.hosts.append(f.result())
                result.save()
        except KeyboardInterrupt:
            for h in hosts:          # a closed connection ends each host's current row at once
                h.close()
            raise
    result.finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result.save()
    from .report import render_fleet

    meta, records = load_fleet(out)
    files = render_fleet(meta, records, out)
    ok = sum(h.success for h in result.hosts)
    console.print(f"fleet: {ok}/{len(result.hosts)} hosts passed"
                  + "".join(f"\n  {h.name}: {h.failed_stage or 'rows'} failed: {h.reason[:200]}"
                            for h in result.hosts if not h.success)
                  + f"\nresults: {out}\nreport:  {files.markdown}\nhtml:    {files.html}", soft_wrap=True)
    return result


def _run_host(host: RemoteHost, plan: pipeline.Plan, out: Path, stages) -> HostOutcome:
    spec = host.host
    started = dt.datetime.now(dt.UTC)
    record = RunRecord(run_id=f"{spec.name}-{started.strftime('%Y%m%dT%H%M%SZ')}",
                       started=started.isoformat(timespec="seconds"),
                       env=Environment(lab=spec.name, host=f"{spec.target} (from {platform.node()})",
                                       backend=spec.backend))
    ctx = pipeline.RunContext(host, out / spec.name, record, plan)
    outcome = HostOutcome(spec.name, spec.name, False, target=spec.target, bare_metal=spec.bare_metal)
    with labelled(spec.name):
        try:
            ok = pipeline._run_stages(ctx, stages, catch=(DunelabError, paramiko.SSHException, OSError, EOFError))
        except Exception as e:            # a bug must not take the other hosts down
            ok = False
            record.stages.append(StageResult("internal", "failed", 0.0, f"{type(e).__name__}: {e}"))
        finally:
            host.close()
        try:
            pipeline._finish(ctx, ok)
        except Exception as e:
            console.print(f"[red]could not write the results: {type(e).__name__}: {e}[/red]")
    failed = next((s for s in record.stages if s.status == "failed"), None)
    outcome.success = bool(record.success)
    if failed:
        outcome.failed_stage, outcome.reason = failed.name, failed.detail
    elif not outcome.success:
        bad = [r for r in record.rows if r.status not in ("passed", "skipped")]
        outcome.reason = f"{len(bad)} rows did not pass" if bad else "did not finish"
    return outcome
