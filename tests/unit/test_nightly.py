"""Nightly: which backends run here, each compared with its own previous night, a regression or a
failed run fails the night, a backend that cannot run is listed with its reason."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

from dunelab import nightly
from dunelab.hostinfo import HostInfo
from dunelab.nightly import ALL_BACKENDS, previous_night, run_nightly

from .records_fixture import make_record

T0 = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


def tools(*names):
    return {t: f"/usr/bin/{t}" for t in names}


def test_backends_this_host_can_run(monkeypatch):
    from dunelab.backends import bochs_build

    monkeypatch.setattr(bochs_build, "missing_tools", lambda: ["g++"])   # Bochs neither built nor buildable
    amd = HostInfo("AuthenticAMD", frozenset(), True, "kvm_pvm", False,
                   tools("bochs", "qemu-system-x86_64", "qemu-img"))
    got = nightly.available(amd, vagrant_why_not="vagrant is not installed (scripts/vagrant-host)")
    assert got["qemu-tcg"] is None and "kvm_intel" in got["qemu-kvm"]
    assert "vagrant is not installed" in got["vagrant-libvirt"]
    intel = HostInfo("GenuineIntel", frozenset(), True, "kvm_intel", True, tools("qemu-system-x86_64", "qemu-img"))
    got = nightly.available(intel, None)
    assert got["qemu-kvm"] is None and got["vagrant-libvirt"] is None and "Bochs 3.0 is not built" in got["bochs"]


def test_vagrant_usable_asks_libvirtd_and_the_plugin():
    def run(argv, **kw):
        if argv[0] == "virsh":
            return SimpleNamespace(returncode=0, stdout="")
        return SimpleNamespace(returncode=0, stdout="vagrant-libvirt (0.11.2, system)\n")

    assert nightly.vagrant_usable(which=lambda t: f"/usr/bin/{t}", run=run) is None
    assert "libvirtd does not answer" in nightly.vagrant_usable(
        which=lambda t: f"/usr/bin/{t}", run=lambda argv, **kw: SimpleNamespace(returncode=1, stdout=""))
    assert "vagrant is not installed" in nightly.vagrant_usable(which=lambda t: None)


def fake_run(slow=1.0, fail=False, env_backend="bochs"):
    """A runner that writes a results directory like `dunelab lab run` would."""
    def run(night, backend):
        rec = make_record(n=60)
        rec.env.backend = env_backend
        for r in rec.rows:
            for m in r.metrics:
                m.samples = [x * slow for x in m.samples]
            if fail and r.row == "hello":
                r.status = "failed"
        rec.run_id = f"{backend}-{night.name}"
        rec.save(night / backend)
        return (1 if fail else 0), []
    return run


def night(archive, when, availability, **runs):
    runners = {b: (lambda n, b=b, f=f: f(n, b)) for b, f in runs.items()}
    return run_nightly(archive, now=when, runners=runners, availability=availability)


ONLY_TCG = {"bochs": "bochs is not installed", "qemu-tcg": None, "qemu-kvm": "no /dev/kvm",
            "vagrant-libvirt": "vagrant is not installed"}


def test_first_night_then_an_unchanged_night_then_a_regression(tmp_path):
    archive = tmp_path / "nightly"
    d1, out1 = night(archive, T0, ONLY_TCG, **{"qemu-tcg": fake_run()})
    tcg = next(b for b in out1 if b.backend == "qemu-tcg")
    assert tcg.ran and tcg.passed and tcg.previous == "" and tcg.ok
    assert {b.backend for b in out1 if not b.ran} == {"bochs", "qemu-kvm", "vagrant-libvirt"}
    assert all(b.ok for b in out1)                      # a backend that cannot run is not a failure

    d2, out2 = night(archive, T0 + dt.timedelta(days=1), ONLY_TCG, **{"qemu-tcg": fake_run()})
    tcg = next(b for b in out2 if b.backend == "qemu-tcg")
    assert tcg.previous == f"{d1.name}/qemu-tcg" and tcg.regressions == [] and tcg.ok
    assert (d2 / "compare-qemu-tcg.txt").read_text().startswith("compare ")

    d3, out3 = night(archive, T0 + dt.timedelta(days=2), ONLY_TCG, **{"qemu-tcg": fake_run(slow=1.5)})
    tcg = next(b for b in out3 if b.backend == "qemu-tcg")
    assert tcg.previous == f"{d2.name}/qemu-tcg" and not tcg.ok
    assert any("getpid[dune] median" in r for r in tcg.regressions)
    summary = (d3 / "summary.md").read_text()
    assert "| qemu-tcg | yes | passed |" in summary and "regression: trap/getpid[dune]" in summary
    assert "| bochs | no: bochs is not installed |" in summary
    assert json.loads((d3 / "summary.json").read_text())[1]["backend"] == "qemu-tcg"


def test_a_failed_row_is_a_regression_and_a_failed_run(tmp_path):
    archive = tmp_path / "nightly"
    night(archive, T0, ONLY_TCG, **{"qemu-tcg": fake_run()})
    _, out = night(archive, T0 + dt.timedelta(days=1), ONLY_TCG, **{"qemu-tcg": fake_run(fail=True)})
    tcg = next(b for b in out if b.backend == "qemu-tcg")
    assert not tcg.passed and "selftest/hello: passed -> failed" in tcg.regressions


def test_each_backend_is_compared_with_its_own_past(tmp_path):
    archive = tmp_path / "nightly"
    both = dict(ONLY_TCG, bochs=None)
    night(archive, T0, both, **{"qemu-tcg": fake_run(), "bochs": fake_run()})
    night(archive, T0 + dt.timedelta(days=1), ONLY_TCG, **{"qemu-tcg": fake_run()})
    assert previous_night(archive, "bochs", "20261130T000000Z").parent.name == "20261128T020000Z"
    assert previous_night(archive, "bochs", "20261128T020000Z") is None       # nothing before the first


def test_a_run_without_results_or_with_leftovers_fails(tmp_path):
    archive = tmp_path / "nightly"
    avail = dict(ONLY_TCG, **{"vagrant-libvirt": None})
    _, out = night(archive, T0, avail, **{"qemu-tcg": lambda n, b: (2, []),
                                          "vagrant-libvirt": lambda n, b: (0, ["vagrant destroy left domains: x"])})
    by = {b.backend: b for b in out}
    assert by["qemu-tcg"].problems == ["the run wrote no results"] and not by["qemu-tcg"].ok
    assert "vagrant destroy left domains: x" in by["vagrant-libvirt"].problems and not by["vagrant-libvirt"].ok


def test_the_nightly_lab_files_never_collide_with_a_developers_labs(tmp_path):
    from dunelab.labdef import load_lab

    spec = load_lab(nightly.lab_file(tmp_path, "qemu-tcg"))
    assert (spec.name, spec.backend, spec.ssh_port) == ("nightly-qemu-tcg", "qemu-tcg", 0)
    assert set(ALL_BACKENDS) == {"bochs", "qemu-tcg", "qemu-kvm", "vagrant-libvirt"}


def test_tcg_times_follow_the_host_and_are_shown_not_judged(tmp_path):
    archive = tmp_path / "nightly"
    night(archive, T0, ONLY_TCG, **{"qemu-tcg": fake_run(env_backend="qemu-tcg")})
    d, out = night(archive, T0 + dt.timedelta(days=1), ONLY_TCG,
                   **{"qemu-tcg": fake_run(slow=2.0, fail=True, env_backend="qemu-tcg")})
    tcg = next(b for b in out if b.backend == "qemu-tcg")
    assert tcg.regressions == ["selftest/hello: passed -> failed"]         # outcomes still count
    text = (d / "compare-qemu-tcg.txt").read_text()
    assert "getpid[dune]" in text and "shown, not judged" in text        # the times are in the comparison


def test_cli_rejects_an_unknown_backend(capsys):
    from dunelab import cli

    assert cli.main(["nightly", "--backend", "xen"]) == 2
    assert "must be one of bochs, qemu-tcg, qemu-kvm, vagrant-libvirt" in capsys.readouterr().err
