"""scenarios/gc on the host, no VM: the collector's source is fetched and verified, our patch
applies, the patched collector and every benchmark build (the same way the rig builds them in the
image rootfs), and the modes this host's kernel allows run and prove their back end.

Soft-dirty needs CONFIG_MEM_SOFT_DIRTY (Debian's 6.1 guest kernel has it; a host may not): where the
kernel lacks it, the test checks the harness refuses bdwgc's silent fallback, and the soft-dirty run
itself is skipped with that reason. The Dune modes need /dev/dune (VT-x): they run in the Bochs lab.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dunelab import PROJECT_ROOT, paths

GC = PROJECT_ROOT / "scenarios/gc"
PROGS = ("gcbench", "linkedlist", "hashmap", "xml", "gccheck", "vdbtest")
RUNNABLE = PROGS[:5]    # take --mode; vdbtest is the Dune provider's own test
# small sizes: each run well under a second natively, yet several collections
SMALL = {
    "gcbench": ["--stretch", "14", "--long", "12", "--array", "20000", "--min", "4", "--max", "12"],
    "linkedlist": ["--lists", "40", "--length", "300", "--rounds", "200", "--mutations", "20"],
    "hashmap": ["--keys", "8000", "--ops", "60000"],
    "xml": ["--elements", "6000", "--rounds", "3"],
    "gccheck": ["--objects", "2000", "--ops", "60000"],
}
METRIC = re.compile(r"^DUNELAB-METRIC (\{.*\})$", re.M)

needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("gcc", "make", "apt-get", "dpkg-source", "patch")),
    reason="needs gcc, make, apt-get, dpkg-source and patch (scripts/bootstrap installs them)")


def _static_expat() -> bool:
    out = subprocess.run(["gcc", "-print-file-name=libexpat.a"], capture_output=True, text=True).stdout.strip()
    return os.path.isabs(out) and os.path.exists(out)


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


DOWNLOADS = paths.home() / "cache" / "downloads"     # the rig's download cache (artifacts.py)


@pytest.fixture(scope="session")
def dist() -> Path:
    """The verified source package, in the cache the rig's fetch hook uses (downloaded once)."""
    d = DOWNLOADS / "libgc_8.2.2-3"
    r = _run([sys.executable, str(GC / "fetch-bdwgc"), "--dest", str(d)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout
    return d


@pytest.fixture(scope="session")
def progs(dist, tmp_path_factory) -> Path:
    if not _static_expat():
        pytest.skip("needs libexpat1-dev (static libexpat.a) for the XML benchmark")
    tmp = tmp_path_factory.mktemp("gc")
    stage = tmp / "stage"
    r = _run(["make", "-C", str(PROJECT_ROOT / "src/libdune"), "all", "install", "PREFIX=/usr/local",
              f"DESTDIR={stage}"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = tmp / "out"
    r = _run(["make", "-C", str(GC), "all", f"O={out}", f"DUNE_PREFIX={stage}/usr/local",
              f"DIST={dist}", f"BUILD={tmp / 'build'}"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # the rig installs every executable it finds in O: exactly our programs, nothing else
    assert sorted(p.name for p in out.iterdir()) == sorted(PROGS)
    return out


def run(progs: Path, prog: str, mode: str, extra=()):
    r = _run([str(progs / prog), "--mode", mode, *SMALL[prog], *extra], timeout=300)
    backend = re.search(r"^GC-BACKEND .*$", r.stdout, re.M)
    fields = dict(kv.split("=", 1) for kv in backend.group(0).split()[1:]) if backend else {}
    metrics = [json.loads(m) for m in METRIC.findall(r.stdout)]
    return r, fields, metrics


def soft_dirty_supported() -> tuple[bool, str]:
    """The kernel check bdwgc makes: after clear_refs 4, a written page shows bit 55 in pagemap."""
    try:
        buf = mmap.mmap(-1, 4096)
        buf[0] = 1
        with open("/proc/self/clear_refs", "w") as f:
            f.write("4")
        buf[0] = 2
        import ctypes
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(addr // 4096 * 8)
            entry = int.from_bytes(f.read(8), "little")
        return bool(entry >> 55 & 1), "soft-dirty bit not set after a write (kernel without CONFIG_MEM_SOFT_DIRTY)"
    except OSError as e:
        return False, f"/proc/self/clear_refs or pagemap unusable: {e}"


# ------------------------------------------------------------------ fetch, verify, patch

@needs_tools
def test_fetch_reuses_and_rejects_tampering(dist, tmp_path):
    ok = _run([sys.executable, str(GC / "fetch-bdwgc"), "--dest", str(dist), "--verify-only"])
    assert ok.returncode == 0 and "cached and verified" in ok.stdout
    bad = tmp_path / "dist"
    shutil.copytree(dist, bad)
    orig = bad / "libgc_8.2.2.orig.tar.gz"
    data = bytearray(orig.read_bytes())
    data[len(data) // 2] ^= 0xFF
    orig.write_bytes(bytes(data))
    r = _run([sys.executable, str(GC / "fetch-bdwgc"), "--dest", str(bad), "--verify-only"])
    assert r.returncode == 1 and "do not match libgc_8.2.2-3.dsc" in r.stderr
    dsc = bad / "libgc_8.2.2-3.dsc"
    dsc.write_text(dsc.read_text().replace("Version: 1:8.2.2-3", "Version: 1:8.2.2-4"))
    r = _run([sys.executable, str(GC / "fetch-bdwgc"), "--dest", str(bad), "--verify-only"])
    assert r.returncode == 1 and "pinned" in r.stderr


@needs_tools
def test_fetch_hook_fills_the_work_copy(dist, tmp_path):
    """What the rig does on the host before the chroot build: `fetch <work copy>`."""
    work = tmp_path / "work"
    work.mkdir()
    r = _run([str(GC / "fetch"), str(work)], env={**os.environ, "DUNELAB_DOWNLOADS": str(DOWNLOADS)})
    assert r.returncode == 0, r.stdout + r.stderr
    got = sorted(p.name for p in (work / ".fetched/libgc_8.2.2-3").iterdir())
    assert got == sorted(["libgc_8.2.2-3.dsc", "libgc_8.2.2.orig.tar.gz", "libgc_8.2.2-3.debian.tar.xz"])
    assert "cached and verified" in r.stdout      # the cache was reused, not downloaded again


@needs_tools
def test_patch_applies_to_debian_source_exactly_once(dist, tmp_path):
    src = tmp_path / "src"
    r = _run(["dpkg-source", "--no-check", "-q", "-x", str(dist / "libgc_8.2.2-3.dsc"), str(src)])
    assert r.returncode == 0, r.stderr
    patch = GC / "patches/bdwgc-8.2.2-dunelab-vdb.patch"
    r = _run(["patch", "-p1", "--dry-run", "-i", str(patch)], cwd=src)
    assert r.returncode == 0 and "FAILED" not in r.stdout and "offset" not in r.stdout, r.stdout
    r = _run(["patch", "-p1", "-s", "-i", str(patch)], cwd=src)
    assert r.returncode == 0
    # the hook's three entry points are in the collector's public header
    h = (src / "include/gc.h").read_text()
    for api in ("GC_set_vdb_client", "GC_get_vdb_stats", "GC_set_on_gc_work"):
        assert re.search(rf"^GC_API .*\b{api}\(", h, re.M), api
    r = _run(["patch", "-p1", "--dry-run", "--forward", "-i", str(patch)], cwd=src)
    assert r.returncode != 0   # already applied: a second application is refused


@needs_tools
def test_make_all_requires_prefix_and_source(tmp_path):
    r = _run(["make", "-C", str(GC), "all", f"O={tmp_path}/o", f"DUNE_PREFIX={tmp_path}/none",
              f"DIST={tmp_path}/nodist", f"BUILD={tmp_path}/b"])
    assert r.returncode != 0 and "has no lib/libdune.a" in r.stderr


# ------------------------------------------------------------------ modes on this host

@needs_tools
@pytest.mark.parametrize("prog", RUNNABLE)
@pytest.mark.parametrize("mode", ["stw", "mprotect"])
def test_benchmark_runs_and_proves_backend(progs, prog, mode):
    r, f, metrics = run(progs, prog, mode)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert re.search(rf"^PASS {prog} mode={mode}\b", r.stdout, re.M)
    assert f["backend"] == {"stw": "none", "mprotect": "mprotect"}[mode]
    assert int(f["collections"]) > 0
    if mode == "mprotect":
        assert f["incremental"] == "1" and int(f["write_faults"]) > 0 and int(f["reads"]) > 0
    else:
        assert f["incremental"] == "0" and f["reads"] == "0" and f["write_faults"] == "0"
    names = {m["name"] for m in metrics}
    want = {f"{prog}_{w}" for w in ("total", "gc", "collections", "max_pause")}
    if mode != "stw":
        want.add(f"{prog}_dirty_pages")
    assert names == want
    for m in metrics:
        assert m["variant"] == mode and m["samples"] and all(v >= 0 for v in m["samples"])
    coll = next(m for m in metrics if m["name"] == f"{prog}_collections")
    assert coll["samples"] == [int(f["collections"])]


@needs_tools
@pytest.mark.parametrize("prog", ["gcbench", "gccheck"])
def test_hook_is_called_and_nothing_is_protected(progs, prog):
    r, f, _ = run(progs, prog, "client-all")
    assert r.returncode == 0, r.stdout[-2000:]
    assert f["backend"] == "test-all" and f["incremental"] == "1"
    assert int(f["reads"]) > 0 and int(f["test_passes"]) >= int(f["reads"])
    assert f["write_faults"] == "0" and f["protect_passes"] == "0"
    assert int(f["heap_pages_dirty"]) > 0


@needs_tools
def test_correctness_test_catches_missed_dirty_pages(progs):
    """A provider that reports nothing dirty is wrong; gccheck must say so (the test can fail)."""
    r, f, _ = run(progs, "gccheck", "client-none")
    assert r.returncode == 1
    assert re.search(r"^FAIL gccheck mode=client-none: ", r.stdout, re.M), r.stdout[-2000:]


@needs_tools
def test_soft_dirty_fallback_is_refused(progs):
    ok, why = soft_dirty_supported()
    if ok:
        pytest.skip("the host kernel supports soft-dirty: bdwgc does not fall back here")
    r, _, _ = run(progs, "gcbench", "soft-dirty")
    assert r.returncode == 1
    assert "collector uses dirty-bit back end 'mprotect', wanted 'soft-dirty'" in r.stdout


@needs_tools
@pytest.mark.parametrize("prog", RUNNABLE)
def test_soft_dirty_mode(progs, prog):
    ok, why = soft_dirty_supported()
    if not ok:
        pytest.skip(f"soft-dirty needs CONFIG_MEM_SOFT_DIRTY: {why}; runs in the lab guest (Debian 6.1)")
    r, f, _ = run(progs, prog, "soft-dirty")
    assert r.returncode == 0, r.stdout[-2000:]
    assert f["backend"] == "soft-dirty" and f["write_faults"] == "0" and int(f["reads"]) > 0


@needs_tools
@pytest.mark.parametrize("mode", ["dune", "stw-dune"])
def test_dune_modes_need_dune(progs, mode):
    if os.path.exists("/dev/dune"):
        r, f, _ = run(progs, "gcbench", mode)
        assert r.returncode == 0 and f["in_dune"] == "1", r.stdout[-2000:]
        return
    r, _, _ = run(progs, "gcbench", mode)
    assert r.returncode == 1 and re.search(rf"^FAIL gcbench mode={mode}: dune_init_and_enter", r.stdout, re.M)
    pytest.skip("no /dev/dune on this host (needs VT-x and dune.ko): the Dune modes run in the Bochs lab")


@needs_tools
def test_provider_test_needs_dune(progs):
    r = _run([str(progs / "vdbtest")])
    if os.path.exists("/dev/dune"):
        assert r.returncode == 0 and r.stdout.startswith("PASS vdbtest"), r.stdout
        return
    assert r.returncode == 1 and "FAIL vdbtest: dune_init_and_enter" in r.stdout
    pytest.skip("no /dev/dune on this host: the provider test (gc-provider row) runs in the Bochs lab")


@needs_tools
def test_bad_arguments(progs):
    for args in (["--mode", "nosuch"], ["--stretch", "3"], ["--mode", "stw", "--bogus", "1"],
                 ["--mode", "stw", "--stretch", "-1"]):
        r = _run([str(progs / "gcbench"), *args])
        assert r.returncode == 2 and "usage:" in r.stderr


# ------------------------------------------------------------------ the scenario file

def test_scenario_rows_are_consistent():
    sc = yaml.safe_load((GC / "scenario.yaml").read_text())
    assert sc["name"] == "gc" and sc["build"] == "make"
    profiles = sc["params"]
    assert set(profiles) == {"emulated", "hardware"} and set(profiles["emulated"]) == set(profiles["hardware"])
    names = [r["name"] for r in sc["rows"]]
    assert len(names) == len(set(names))
    seen = set()
    for row in sc["rows"]:
        assert row["program"] in PROGS
        args = row["args"]
        mode = args[args.index("--mode") + 1] if "--mode" in args else "dune"   # vdbtest: Dune only
        seen.add((row["program"], mode))
        for a in args:
            for p in re.findall(r"\{(\w+)\}", str(a)):
                assert p in profiles["emulated"], (row["name"], p)
        assert ("dune" in row["needs"]) == ("dune" in mode)
        assert row["expect"]["pass"].startswith("^PASS")
        if row["program"] in PROGS[:4]:
            assert set(row["metrics"]) >= {f"{row['program']}_{m}" for m in ("total", "gc", "collections",
                                                                             "max_pause")}
    for prog in PROGS[:4]:
        for mode in ("stw", "mprotect", "soft-dirty", "dune", "stw-dune"):
            assert (prog, mode) in seen, (prog, mode)
    for mode in ("mprotect", "soft-dirty", "dune"):
        assert ("gccheck", mode) in seen
    paper = sc["paper"]["values"]
    assert paper["gcbench_total"] == {"stw": 1224, "dune": 888}
    assert set(paper) == {f"{p}_total" for p in PROGS[:4]}
    for row in sc["rows"]:
        for a in row["args"]:
            assert isinstance(a, str), (row["name"], a)   # argv strings, not YAML numbers
