"""The Bochs the lab runs: Bochs 3.0 built from Debian's source, with dunelab's patches.

Debian 12's own `bochs` (2.7) is built with the internal debugger and instrumentation, which cost
the emulator its handler-chaining and trace-linking speedups, and its SMP loop keeps re-entering
every halted CPU once per 16-tick quantum, so an idle two-CPU guest kept a host core ~85% busy.
This build (measured on the 2-core lab host, README "Which Bochs"):

- no debugger, no plugins, no GUI but rfb (the saved-state trigger needs Bochs' VNC server);
- patches/0001: when every CPU stays halted for a whole round, time jumps to the next timer event;
- patches/0002: every SMP trace commits RIP first, as cpu_loop() does (else a VM exit right after
  an exception put the guest back at the faulting instruction with RSP on the handler's stack);
- patches/0003: machine-check banks and a port that injects machine checks (Bochs has none), for
  dune.ko's #MC forwarding test (row selftest/mce);
- patches/0004: the architectural PMU its CPU model reports but Bochs never implemented (counters of
  retired instructions; no PMI), for dune.ko's perf-switching test (row selftest/perfswitch);
- patches/0005: CPUID leaf 0x15 says the APIC timer counts TSC ticks (the real part's ratio made
  Linux's timer interrupts come ~146x early: ~167,000 a second on a busy guest CPU, 251 since);
- a CPU-bound guest loop runs 2.3x faster than under Debian's 2.7 at the same guest, and an idle
  guest (kernel `idle=halt`, labs/default.yaml) costs ~3 host CPU-s per minute instead of ~46.

The source is upstream's 3.0 release as Debian repacks it (`bochs_3.0+dfsg.orig.tar.xz`, Debian 13's
source package), fetched from the host's own Debian mirror (its pool serves every suite) and
checked against the SHA-256 pinned below, which apt verified against the signed Sources index
when it was pinned. The build is content-addressed like the images: its key covers the source,
the patches, the configure arguments and the compiler, so a change rebuilds it and a stale build
is never run. `scripts/bootstrap` builds it (about 2 minutes on 2 cores); `dunelab up` builds it
if it is missing.

    scripts/bootstrap            # builds it if needed (as the function bochs_build, [--check])
    .venv/bin/python -c 'import sys; from dunelab.backends.bochs_build import main; sys.exit(main())' [--check]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from .. import paths
from ..errors import HostError, StepError
from ..images.cache import locked
from ..images.manifest import sha256_file
from ..progress import step

VERSION = "3.0"
# (file name in Debian's pool, size, sha256): Debian 13's bochs 3.0+dfsg-1 source package.
SOURCE = ("bochs_3.0+dfsg.orig.tar.xz", 3896488,
          "78f6c73d4a6472d5130a87ab9dc306d02c7c71ed8e25b3a8ef642e2a7acd282b")
POOL = "pool/main/b/bochs"
TOPDIR = "bochs-3.0"
PATCHES = Path(__file__).with_name("bochs-patches")
CONFIGURE = (
    "--with-rfb", "--with-nogui", "--disable-docbook",
    "--disable-debugger", "--disable-plugins", "--disable-readline", "--disable-gameport", "--disable-usb",
    "--enable-all-optimizations", "--enable-cpu-level=6", "--enable-x86-64", "--enable-smp",
    "--enable-vmx=2", "--enable-avx", "--enable-evex", "--enable-fpu", "--enable-a20-pin",
    "--enable-memtype", "--enable-protection-keys", "--enable-cet", "--enable-monitor-mwait",
    "--enable-pci", "--enable-e1000", "--enable-cdrom",
)
CXXFLAGS = "-O2"
BUILD_TOOLS = ("g++", "make", "patch")


def tools_dir() -> Path:
    return paths.home() / "cache" / "tools"


@functools.cache
def _compiler() -> str:
    """The compiler's banner, part of the key: asked once per process (every key() needs it, and one
    `dunelab up` computes the key for the probe, the build check, the plan and the state's identity)."""
    try:
        out = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "missing"
    return out.splitlines()[0] if out else "unknown"


def _patches() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def key() -> str:
    """Everything the binary depends on, hashed."""
    patches = {p.name: sha256_file(p) for p in _patches()}
    data = {"version": VERSION, "source": SOURCE, "patches": patches, "configure": CONFIGURE,
            "cxxflags": CXXFLAGS, "compiler": _compiler()}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def install_dir() -> Path:
    return tools_dir() / f"bochs-{VERSION}-{key()[:16]}"


def binary_path() -> Path:
    """Where this recipe's binary is (whether or not it is built yet)."""
    return install_dir() / "bochs"


def built() -> Path | None:
    p = binary_path()
    return p if p.is_file() and os.access(p, os.X_OK) else None


def missing_tools() -> list[str]:
    return [t for t in BUILD_TOOLS if not shutil.which(t)]


def ensure() -> Path:
    """The built binary, building it now if this recipe has not been built on this host."""
    return built() or build()


def _mirror_uri() -> str:
    from ..images.mirrors import debian_sources, mirror_for

    return mirror_for("bookworm", debian_sources()).uri.rstrip("/")


def fetch_source() -> Path:
    """Debian's orig tarball in the tools cache, verified against the pin (downloaded once)."""
    name, size, digest = SOURCE
    dest = tools_dir() / "sources" / name
    if dest.is_file() and dest.stat().st_size == size and sha256_file(dest) == digest:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = f"{_mirror_uri()}/{POOL}/{name}"
    part = dest.with_name(f".{name}.{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(part, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise StepError("bochs source", f"cannot download {url}: {e}") from None
    got_size, got = part.stat().st_size, sha256_file(part)
    if (got_size, got) != (size, digest):
        part.unlink(missing_ok=True)
        raise StepError("bochs source", f"{url}: {got_size} bytes, sha256 {got}; pinned {size} bytes, {digest}")
    os.replace(part, dest)
    return dest


def _run(cmd: list[str], cwd: Path, log: Path, what: str, env: dict | None = None) -> None:
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise StepError("bochs build", f"{what} failed ({r.returncode}); log {log}:\n{tail}")


def build(jobs: int | None = None) -> Path:
    """Fetch, patch, configure and make; install the binary into its content-addressed directory."""
    if missing := missing_tools():
        raise HostError(f"building Bochs {VERSION} needs {', '.join(missing)} (apt-get install g++ make "
                        "patch, or scripts/bootstrap)")
    tools_dir().mkdir(parents=True, exist_ok=True)
    with locked(tools_dir(), name=".lock-bochs"):
        if done := built():                      # another process built it while we waited
            return done
        out = install_dir()
        with step(f"building Bochs {VERSION} (dunelab's patches; once per recipe)", total=5) as s:
            s.update("source")
            tarball = fetch_source()
            with tempfile.TemporaryDirectory(prefix="dunelab-bochs-", dir=tools_dir()) as tmp:
                work, log = Path(tmp), Path(tmp) / "build.log"
                s.update("unpacking", advance=1)
                with tarfile.open(tarball) as t:
                    t.extractall(work, filter="data")
                src = work / TOPDIR
                for p in _patches():
                    _run(["patch", "-p1", "--forward", "-i", str(p)], src, log, f"patch {p.name}")
                s.update("configure", advance=1)
                env = {**os.environ, "CXXFLAGS": CXXFLAGS, "CFLAGS": CXXFLAGS}
                _run(["./configure", *CONFIGURE], src, log, "configure", env)
                s.update("make", advance=1)
                _run(["make", f"-j{jobs or os.cpu_count() or 1}", "bochs"], src, log, "make", env)
                s.update("install", advance=1)
                staging = tools_dir() / f".{out.name}.{os.getpid()}"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir()
                shutil.copy2(src / "bochs", staging / "bochs")
                shutil.copy2(log, staging / "build.log")
                (staging / "recipe.json").write_text(json.dumps(
                    {"version": VERSION, "key": key(), "source": SOURCE[0], "configure": CONFIGURE,
                     "patches": [p.name for p in _patches()], "compiler": _compiler()},
                    indent=2) + "\n")
                shutil.rmtree(out, ignore_errors=True)
                os.replace(staging, out)
            s.update("done", advance=1)
    return out / "bochs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 unless this recipe is built; build nothing")
    a = ap.parse_args(argv)
    if a.check:
        p = built()
        print(p or f"not built: {binary_path()}")
        return 0 if p else 1
    try:
        print(ensure())
    except (HostError, StepError) as e:
        print(f"bochs_build: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
