"""The remote build (inventory `artifacts: remote-build`) for real, at native speed: provision/fabfile.py's
remote_build task runs its script in a "host" that is the guest image's rootfs reached through chroot
(the image has the kernel headers and gcc a real host would), against the image's kernel release.
A TCG guest would run the very same commands, only ~50x slower (minutes per kernel source file on a
loaded CI machine), so this is where the script is proven; real hosts are where it is used.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import invoke
import pytest

from dunelab.artifacts import _collect
from dunelab.provisioning import tasks
from dunelab.remote_build import pack_sources
from dunelab.scenarios import discover

from ..conftest import PROJECT_ROOT

pytestmark = [pytest.mark.fleet]


class ChrootHost(invoke.Context):
    """A Fabric-like connection whose commands run in `root` through chroot; put/get copy files."""

    def __init__(self, root: Path):
        super().__init__()
        self._set(root=Path(root))

    def run(self, command, hide=True, warn=False, timeout=None, **kw):
        r = subprocess.run(["chroot", str(self.root), "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                            "HOME=/root", "/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout)
        if r.returncode and not warn:
            raise RuntimeError(f"{command!r} exited {r.returncode}: {r.stderr[-2000:]}")
        return SimpleNamespace(stdout=r.stdout, stderr=r.stderr, exited=r.returncode)

    def put(self, local, remote, preserve_mode=True):
        dest = self.root / remote.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(local, io.IOBase):
            dest.write_bytes(local.read())
        else:
            shutil.copy2(local, dest)

    def get(self, remote, local):
        shutil.copy2(self.root / remote.lstrip("/"), local)


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    from dunelab.images import build_image, load_recipe

    return build_image(load_recipe(PROJECT_ROOT / "images" / "bookworm.yaml")).image


def test_remote_build_script_builds_against_the_hosts_own_headers(image, tmp_path):
    t = tasks()
    host = ChrootHost(image.rootfs)
    scenarios = [Path(s.dir) for s in discover() if s.build == "make"]
    sources = tmp_path / "sources.tar.gz"
    assert pack_sources(scenarios, sources, tmp_path / "log") == {}
    key = "itest-remote-build"
    try:
        remote = t.remote_build.body(host, sources, key, image.kernel_release)
        out = tmp_path / "out"
        out.mkdir()
        host.get(remote, tmp_path / "a.tgz")
        with tarfile.open(tmp_path / "a.tgz") as tar:
            tar.extractall(out, filter="data")
    finally:
        t.remote_clean.body(host, key)
    assert not (image.rootfs / "root/dunelab/build" / key).exists()          # nothing left on the host
    art = _collect(out, key)
    vermagic = subprocess.run(["modinfo", "-F", "vermagic", str(art.kmod)], capture_output=True, text=True).stdout
    assert vermagic.split()[0] == image.kernel_release
    assert (art.libdune / "lib" / "libdune.a").is_file() and (art.libdune / "include" / "dune" / "dune.h").is_file()
    assert art.guest_tests and art.hostile_tests
    assert art.build_errors == {} and set(art.scenario_programs) == {p.name for p in scenarios}


def test_remote_build_names_missing_headers(image, tmp_path):
    t = tasks()
    sources = tmp_path / "sources.tar.gz"
    pack_sources([], sources, tmp_path / "log")
    with pytest.raises(RuntimeError, match=r"no kernel headers for 9\.9\.9-1-amd64 .*install linux-headers"):
        t.remote_build.body(ChrootHost(image.rootfs), sources, "itest-noheaders", "9.9.9-1-amd64")
    t.remote_clean.body(ChrootHost(image.rootfs), "itest-noheaders")
