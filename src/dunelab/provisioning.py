"""Install Dune into a running lab: build the artifacts on the host, then run provision/fabfile.py's tasks."""

from __future__ import annotations

import importlib.util
from functools import cache
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


def provision(lab: Lab) -> Artifacts:
    # Build against the very image the guest booted: its kernel headers, gcc and glibc.
    art = build_artifacts(lab.booted_image())
    t = tasks()
    c = lab.channel().connection
    with step("installing Dune into the guest", total=3) as s:
        s.update("dune.ko")
        t.install_module(c, art.kmod, art.udev)
        s.update("libdune", advance=1)
        t.install_libdune(c, art.libdune)
        s.update("test programs", advance=1)
        t.install_tests(c, art.guest_tests, "guest")
        t.install_tests(c, art.hostile_tests, "hostile")
        t.install_tests(c, art.payloads, "payload")
        s.update("done", advance=1)
    return art
