"""Install Dune and the scenarios' programs into a running lab: build the artifacts on the host, then
run provision/fabfile.py's tasks over the lab's connection."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

from . import PROJECT_ROOT
from .artifacts import Artifacts, build_artifacts
from .lab import Lab
from .progress import step


@cache
def tasks() -> ModuleType:
    """provision/fabfile.py lives outside the package (the repo's top level is fixed); load it by path."""
    path = PROJECT_ROOT / "provision" / "fabfile.py"
    spec = importlib.util.spec_from_file_location("dunelab_provision_tasks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(lab: Lab, scenarios=()) -> Artifacts:
    """dune.ko, libdune, its test programs and the `build: make` scenarios, built against the very
    image the guest booted (its kernel headers, gcc and glibc); cached by content."""
    dirs = [Path(s.dir) for s in scenarios if s.build == "make"]
    return build_artifacts(lab.booted_image(), scenarios=dirs)


@contextlib.contextmanager
def stripped(files: list[Path]) -> Iterator[list[Path]]:
    """Copies of `files` without debug information, for the trip to the guest: an emulated guest's
    SSH moves ~100 KB/s, and debug sections are most of the bytes (dune.ko 1.7 MB -> 0.1 MB). The
    artifacts on the host keep theirs, for reading an oops or a core."""
    with tempfile.TemporaryDirectory(prefix="dunelab-strip-") as tmp:
        out = []
        for f in files:
            dst = Path(tmp) / f.name
            shutil.copy2(f, dst)
            subprocess.run(["strip", "--strip-debug", str(dst)], capture_output=True)   # non-ELF: left as is
            out.append(dst)
        yield out


def install_dune(lab: Lab, art: Artifacts) -> None:
    t = tasks()
    c = lab.channel().connection
    with step("installing Dune into the guest", total=3) as s:
        s.update("dune.ko")
        with stripped([art.kmod]) as (ko,):
            t.install_module(c, ko)
        s.update("libdune", advance=1)
        t.install_libdune(c, art.libdune)
        s.update("test programs", advance=1)
        for kind, programs in (("guest", art.guest_tests), ("hostile", art.hostile_tests),
                               ("payload", art.payloads)):
            with stripped(programs) as small:
                t.install_tests(c, small, kind)
        s.update("done", advance=1)


def install_scenarios(lab: Lab, art: Artifacts) -> list[str]:
    """Each scenario's programs into /root/dunelab/scenarios/NAME/; returns the installed paths."""
    t = tasks()
    c = lab.channel().connection
    installed: list[str] = []
    with step("installing scenario programs", total=max(1, len(art.scenario_programs))) as s:
        for name, programs in art.scenario_programs.items():
            s.update(name)
            with stripped(programs) as small:
                installed += t.install_scenario(c, name, small)
            s.update(name, advance=1)
    return installed


def provision(lab: Lab, scenarios=()) -> Artifacts:
    """Everything: build, install Dune, install the scenarios' programs."""
    art = build(lab, scenarios)
    install_dune(lab, art)
    install_scenarios(lab, art)
    return art
