"""Artifacts for a host that does not run a dunelab image (inventory `artifacts: remote-build`).

Its kernel is its own, so dune.ko must be built against its headers, and the programs against its
libc: the sources (src/kmod, src/libdune, the selected `build: make` scenarios with their `fetch`
hooks already run here, since the host may have no way to download) go to the host, it runs the same
makes dunelab.artifacts runs in an image's rootfs (provision/fabfile.py: remote_build), and the
results come back to $DUNELAB_HOME/build/remote-<host>-<key16>/ in dunelab.artifacts' layout. From
there on a remote-built host is installed exactly like an image host, and the host side keeps the
unstripped originals for reading an oops.

Nothing is cached: the host's headers or compiler may change under the same `uname -r`, and a build
on real hardware takes seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from . import PROJECT_ROOT, paths
from .artifacts import SCENARIO_SKIP_DIRS, SOURCES, Artifacts, _collect, source_key
from .errors import DunelabError
from .progress import step

_BUILD_OUTPUTS = ("build", "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "Module.symvers", "modules.order")


def pack_sources(scenarios: list[Path], out: Path, log: Path) -> dict[str, str]:
    """Write a .tar.gz of the sources a remote build needs to `out`; each scenario's `fetch` hook runs
    here first. Returns the scenarios whose fetch failed (left out of the tarball) and why."""
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="dunelab-remote-src-") as tmp:
        root = Path(tmp)
        for rel in SOURCES:
            shutil.copytree(PROJECT_ROOT / rel, root / rel, ignore=shutil.ignore_patterns(*_BUILD_OUTPUTS))
        for d in scenarios:
            dest = root / "scenarios" / d.name
            shutil.copytree(d, dest, ignore=shutil.ignore_patterns(*SCENARIO_SKIP_DIRS))
            fetch = d / "fetch"
            if fetch.is_file() and os.access(fetch, os.X_OK):
                downloads = paths.home() / "cache" / "downloads"
                downloads.mkdir(parents=True, exist_ok=True)
                with open(log, "a") as f:
                    f.write(f"$ {fetch} {dest}\n")
                    f.flush()
                    r = subprocess.run([str(fetch), str(dest)], stdout=f, stderr=subprocess.STDOUT, cwd=d,
                                       env={**os.environ, "DUNELAB_DOWNLOADS": str(downloads)})
                if r.returncode != 0:          # the host could not build it either
                    shutil.rmtree(dest)
                    failed[d.name] = f"scenarios/{d.name}/fetch failed on {os.uname().nodename}; log {log}"
        with tarfile.open(out, "w:gz") as tar:
            tar.add(str(root), arcname=".")
    return failed


def build_on_host(host, scenarios, kernel: str) -> Artifacts:
    """Build on `host` (a fleet RemoteHost) and fetch the artifacts back; the scenarios are the plan's."""
    from .provisioning import tasks

    dirs = sorted(Path(s.dir) for s in scenarios if s.build == "make")
    spec = host.host
    key = source_key(f"remote {spec.name} {kernel}", dirs)
    out = paths.home() / "build" / f"remote-{spec.name}-{key[:16]}"
    tmp_out = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp_out, ignore_errors=True)
    tmp_out.mkdir(parents=True)
    log = tmp_out / "host.log"
    t = tasks()
    c = host.channel().connection
    with step(f"building Dune on {spec.target} against its kernel {kernel}", total=3) as s:
        sources = tmp_out / "sources.tar.gz"
        fetch_failed = pack_sources(dirs, sources, log)
        s.update("make on the host", advance=1)
        try:
            remote = t.remote_build(c, sources, key[:16])
        except RuntimeError as e:
            raise DunelabError(f"{spec.target}: {e}") from None
        finally:
            sources.unlink(missing_ok=True)
        s.update("fetching the artifacts", advance=1)
        local = tmp_out / "artifacts.tar.gz"
        try:
            c.get(remote, str(local))
        finally:
            t.remote_clean(c, key[:16])
        with tarfile.open(local) as tar:
            tar.extractall(tmp_out, filter="data")
        local.unlink()
        s.update("done", advance=1)
    for name, why in fetch_failed.items():       # their rows fail with this reason, like a failed make
        (tmp_out / "scenarios").mkdir(exist_ok=True)
        (tmp_out / "scenarios" / f"{name}.failed").write_text(why + "\n")
    (tmp_out / ".complete").write_text(key + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp_out, out)
    if not (out / "dune.ko").is_file():
        raise DunelabError(f"{spec.target}: the remote build returned no dune.ko (see {out})")
    return _collect(out, key)
