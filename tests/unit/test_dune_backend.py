"""The lab's Dune back end (dune_backend: dune | kvm): which rows run, with what environment, and which
of a scenario's predictions the report checks."""

from __future__ import annotations

import pytest
import yaml

from dunelab.errors import ConfigError
from dunelab.labdef import load_lab
from dunelab.records import Environment, RunRecord
from dunelab.report import check_predictions
from dunelab.runner import command_line
from dunelab.scenarios import LabFacts, ScenarioInfo, load_scenario

from ..conftest import PROJECT_ROOT


def test_tcg_kvm_lab_runs_dune_on_kvm_and_default_stays_on_the_module():
    assert load_lab(PROJECT_ROOT / "labs/tcg-kvm.yaml").dune_backend == "kvm"
    assert load_lab(PROJECT_ROOT / "labs/tcg-kvm.yaml").backend == "qemu-tcg"
    assert load_lab(PROJECT_ROOT / "labs/default.yaml").dune_backend == "dune"


def test_unknown_dune_backend_is_named(tmp_path):
    p = tmp_path / "lab.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "dune_backend": "xen"}))
    with pytest.raises(ConfigError, match="dune_backend"):
        load_lab(p)


def test_kvm_lab_runs_dune_rows_but_not_the_modules_own():
    kvm = LabFacts(vmx=False, dune=True, backend="qemu-tcg", dune_backend="kvm", kvm=True)
    rows = {r.name: r for r in load_scenario(PROJECT_ROOT / "scenarios/selftest").rows}
    assert rows["hello"].unmet(kvm) is None
    assert "tests dune.ko itself" in rows["ioctls"].unmet(kvm)
    no_kvm = LabFacts(vmx=False, dune=False, backend="qemu-tcg", dune_backend="kvm", kvm=False)
    assert "no usable /dev/kvm" in rows["hello"].unmet(no_kvm)
    module = LabFacts(vmx=True, dune=True)
    assert rows["ioctls"].unmet(module) is None and rows["hello"].unmet(module) is None
    assert kvm.env == {"DUNE_BACKEND": "kvm"} and module.env == {}


def test_command_line_carries_the_back_end():
    row = load_scenario(PROJECT_ROOT / "scenarios/selftest").row("hello")
    assert command_line(row, {}, {"DUNE_BACKEND": "kvm"}) == "env DUNE_BACKEND=kvm /root/dune-tests/guest/hello"
    assert command_line(row, {}) == "/root/dune-tests/guest/hello"


@pytest.mark.parametrize("ran_on", ["dune", "kvm"])
def test_report_checks_only_the_predictions_of_the_back_end_that_ran(ran_on):
    s = load_scenario(PROJECT_ROOT / "scenarios/trap")
    rec = RunRecord(run_id="r", started="now", env=Environment(lab="l", host="h", dune_backend=ran_on))
    rec.scenarios["trap"] = ScenarioInfo.of(s, "emulated").to_json()
    checks = check_predictions(rec, "trap")
    want = [p for p in s.predictions if p.dune_backend == ran_on]
    assert len(checks) == len(want) > 0
    assert [c.event for c in checks] == [p.event for p in want]
