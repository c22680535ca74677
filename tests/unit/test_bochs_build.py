"""dunelab's Bochs build (backends/bochs_build.py): its key, its source check, what it installs where.
The build itself (75 s of g++) runs in scripts/bootstrap and is proven by every Bochs lab session."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dunelab.backends import bochs_build as bb
from dunelab.errors import StepError


@pytest.fixture()
def mirror(tmp_path, tmp_home, monkeypatch):
    """A local "mirror" (file://) with a pool holding a fake orig tarball pinned in SOURCE."""
    pool = tmp_path / "mirror" / bb.POOL
    pool.mkdir(parents=True)
    data = b"not really bochs\n" * 1000
    (pool / "bochs_x.orig.tar.xz").write_bytes(data)
    monkeypatch.setattr(bb, "_mirror_uri", lambda: f"file://{tmp_path / 'mirror'}")
    monkeypatch.setattr(bb, "SOURCE", ("bochs_x.orig.tar.xz", len(data), hashlib.sha256(data).hexdigest()))
    return pool / "bochs_x.orig.tar.xz"


def test_source_is_fetched_once_and_checked(mirror):
    got = bb.fetch_source()
    assert got.read_bytes() == mirror.read_bytes() and got.parent == bb.tools_dir() / "sources"
    mirror.unlink()                        # cached: no second download
    assert bb.fetch_source() == got


def test_source_that_does_not_match_the_pin_is_refused(mirror, monkeypatch):
    monkeypatch.setattr(bb, "SOURCE", (bb.SOURCE[0], bb.SOURCE[1], "0" * 64))
    with pytest.raises(StepError, match="pinned"):
        bb.fetch_source()
    assert not list((bb.tools_dir() / "sources").iterdir())     # nothing half-verified is kept


def test_key_covers_configure_patches_and_compiler(tmp_home, monkeypatch, tmp_path):
    base = bb.key()
    assert bb.binary_path() == bb.tools_dir() / f"bochs-{bb.VERSION}-{base[:16]}" / "bochs"
    monkeypatch.setattr(bb, "CONFIGURE", bb.CONFIGURE + ("--enable-debugger",))
    assert bb.key() != base
    monkeypatch.undo()
    patches = tmp_path / "patches"
    patches.mkdir()
    for p in bb.PATCHES.glob("*.patch"):
        (patches / p.name).write_bytes(p.read_bytes() + b"\n")
    monkeypatch.setattr(bb, "PATCHES", patches)
    assert bb.key() != base
    monkeypatch.undo()
    monkeypatch.setattr(bb, "_compiler", lambda: "g++ (Debian 99.0) 99.0")
    assert bb.key() != base


def test_the_patches_are_there_and_name_what_they_change():
    patches = {p.name: p.read_text() for p in sorted(bb.PATCHES.glob("*.patch"))}
    assert list(patches) == ["0001-smp-idle-skip-to-next-timer-event.patch",
                             "0002-smp-commit-rip-at-trace-start.patch",
                             "0003-machine-check-architecture-and-injection-port.patch",
                             "0004-architectural-pmu.patch",
                             "0005-skylake-x-apic-timer-clock-is-the-tsc.patch"]
    idle, rip, mca, pmu, crystal = patches.values()
    assert "+++ b/main.cc" in idle and "getNumCpuTicksLeftNextEvent" in idle
    # 0002: the RIP commit goes at the top of cpu_run_trace(), the SMP loop's per-trace entry
    assert "+++ b/cpu/cpu.cc" in rip and " void BX_CPU_C::cpu_run_trace(void)" in rip
    assert "+  BX_CPU_THIS_PTR prev_rip = RIP;" in rip
    # 0003: the MCA MSRs come before Bochs' own MSR table, #MC is a priority-1 async event, the port
    # is registered with the system devices, and the test program speaks the same port
    assert "+  int mca = mca_rdmsr(index, msr);" in mca and "+  int mca = mca_wrmsr(index, val_64);" in mca
    assert "+  if (is_pending(BX_EVENT_MACHINE_CHECK)) {" in mca and "deliver_machine_check();" in mca
    assert "+++ b/iodev/devices.cc" in mca and "BX_MCA_PORT_INDEX" in mca
    guest = (Path(bb.__file__).parents[3] / "src/libdune/tests/guest/mce.c").read_text()
    for port in ("0x8a20", "0x8a24", "0x434d4c44"):
        assert port in mca and port in guest
    # 0004: PMU MSRs after the MCA ones, RDPMC reads the same counters, and the VM-entry/exit controls
    # that load IA32_PERF_GLOBAL_CTRL (which Bochs offered but ignored) load it
    assert "+  int pmu = pmu_rdmsr(index, msr);" in pmu and "+  if (! pmu_rdpmc(ECX, &val_64))" in pmu
    assert "VMCS_64BIT_GUEST_IA32_PERF_GLOBAL_CTRL" in pmu and "VMCS_64BIT_HOST_IA32_PERF_GLOBAL_CTRL" in pmu
    # 0005: the model's leaf 0x15 says the APIC timer counts TSC ticks (ratio 1/1, a 3.5 GHz crystal)
    assert "+++ b/cpu/cpudb/intel/corei7_skylake-x.cc" in crystal
    assert "+    get_leaf(leaf, 0x00000001, 0x00000001, 3500000000U, 0x00000000);" in crystal
    for text in patches.values():   # each explains itself before its first hunk
        assert text.startswith("dunelab: ") and text.index("\n--- a/") > 200


def test_not_built_means_none_and_a_missing_compiler_is_named(tmp_home, monkeypatch):
    from dunelab.errors import HostError

    assert bb.built() is None
    monkeypatch.setattr(bb, "missing_tools", lambda: ["g++"])
    with pytest.raises(HostError, match="needs g\\+\\+"):
        bb.build()
