"""scenario.yaml: every mistake is named by file, field and reason; the repo's scenarios load and
cover every libdune program."""

from __future__ import annotations

from pathlib import Path

import pytest

from dunelab.errors import ConfigError, DunelabError
from dunelab.scenarios import LabFacts, discover, load_scenario, select

from ..conftest import PROJECT_ROOT

GOOD = """\
name: demo
description: a demo
params:
  emulated: {n: 10}
  hardware: {n: 10000}
paper:
  citation: somebody
  unit: cycles
  values:
    getpid: {linux: 138, dune: 895}
predictions:
  - {metric: getpid, variant: dune, event: exits, per_op: 1, tolerance: 0.01, why: one VMCALL}
rows:
  - name: getpid-linux
    program: bench
    args: [getpid, --n, "{n}"]
    metrics: [getpid]
    expect: {status: 0, pass: "^PASS"}
  - name: getpid-dune
    program: bench
    args: [getpid, --dune, --n, "{n}"]
    needs: [vmx, dune]
    groups: [trap]
    metrics: [getpid]
    repeat: 2
"""


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "scenario.yaml").write_text(text)
    return d


def test_good_scenario_loads(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert [r.name for r in s.rows] == ["getpid-linux", "getpid-dune"]
    r = s.rows[1]
    assert r.id == "demo/getpid-dune" and r.needs == ("vmx", "dune") and r.repeat == 2
    assert r.argv(s.profile("emulated")) == ["/root/dunelab/scenarios/demo/bench", "getpid", "--dune", "--n", "10"]
    assert r.argv(s.profile("hardware"))[-1] == "10000"
    assert s.rows[0].expect.status == (0,) and s.rows[0].expect.pass_re == "^PASS"
    assert r.expect.fail_re == r"^FAIL\b"             # the default
    assert s.paper.values["getpid"] == {"linux": 138.0, "dune": 895.0}
    assert s.predictions[0].per_op == 1.0


@pytest.mark.parametrize("old,new,field,reason", [
    ("name: demo\n", "name: other\n", "name", "directory's name"),
    ("    program: bench\n    args: [getpid, --n", "    args: [getpid, --n", "rows[0].program", "is required"),
    ("--n, \"{n}\"]\n    metrics", "--n, \"{m}\"]\n    metrics", "rows[0].args[2]", "{m}"),
    ("needs: [vmx, dune]", "needs: [vmx, kvm]", "rows[1].needs[1]", "must be one of vmx, dune"),
    ("repeat: 2", "repeat: 0", "rows[1].repeat", "at least 1"),
    ("repeat: 2", "retries: 2", "rows[1].retries", "unknown field"),
    ("pass: \"^PASS\"", "pass: \"^(PASS\"", "rows[0].expect.pass", "regular expression"),
    ("{status: 0,", "{status: [0, 300],", "rows[0].expect.status", "0-255"),
    ("  hardware: {n: 10000}\n", "", "params.hardware", "is required when params.emulated"),
    ("  hardware: {n: 10000}", "  hardware: {k: 1}", "params", "same parameters"),
    ("- name: getpid-dune", "- name: getpid-linux", "rows[1].name", "duplicate"),
    ("    getpid: {linux: 138, dune: 895}", "    getpid: {linux: fast}", "paper.values.getpid.linux", "a number"),
    ("metric: getpid, variant", "metric: nothing, variant", "predictions[0].metric", "no row emits"),
    ("  unit: cycles\n", "", "paper.unit", "is required"),
])
def test_errors_name_file_field_and_reason(tmp_path, old, new, field, reason):
    assert old in GOOD
    d = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        load_scenario(d)
    assert e.value.file == str(d / "scenario.yaml")
    assert e.value.field == field, str(e.value)
    assert reason in e.value.reason, str(e.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    d = write(tmp_path, "name: demo\nrows: [\n")
    with pytest.raises(ConfigError) as e:
        load_scenario(d)
    assert "line" in e.value.field and "invalid YAML" in e.value.reason


def test_no_rows_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="rows: must list at least one row"):
        load_scenario(write(tmp_path, "name: demo\nrows: []\n"))


def test_build_none_takes_commands_and_absolute_paths(tmp_path):
    s = load_scenario(write(tmp_path, "name: demo\nbuild: none\nrows:\n  - {name: a, program: sh}\n"
                                      "  - {name: b, program: /bin/echo, args: [hi]}\n"))
    assert [r.argv({}) for r in s.rows] == [["sh"], ["/bin/echo", "hi"]]
    with pytest.raises(ConfigError, match="rows\\[0\\].program"):
        load_scenario(write(tmp_path, "name: demo\nbuild: none\nrows:\n  - {name: a, program: bin/x}\n"))


def test_needs_decide_skips():
    facts = LabFacts(vmx=False, dune=False, backend="qemu-tcg")
    s_rows = load_scenario(PROJECT_ROOT / "scenarios/hostile").rows
    assert "qemu-tcg guest has no VMX" in s_rows[0].unmet(facts)
    assert s_rows[0].unmet(LabFacts(vmx=True, dune=True)) is None


def test_select_by_name_row_and_group(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert [(sc.name, [r.name for r in rows]) for sc, rows in select([s])] == \
        [("demo", ["getpid-linux", "getpid-dune"])]
    assert [r.name for _, rows in select([s], ["demo/getpid-dune"]) for r in rows] == ["getpid-dune"]
    assert [r.name for _, rows in select([s], groups=["trap"]) for r in rows] == ["getpid-dune"]
    with pytest.raises(DunelabError, match="no scenario 'nope'"):
        select([s], ["nope"])
    with pytest.raises(DunelabError, match="has no row 'x'.*getpid-linux"):
        select([s], ["demo/x"])
    with pytest.raises(DunelabError, match="no row matches groups zzz"):
        select([s], groups=["zzz"])


# ---- the repository's own scenarios -----------------------------------------------------------

def test_repo_scenarios_load():
    names = [s.name for s in discover()]
    assert names[:2] == ["selftest", "hostile"]      # Dune itself first: the first thing to read
    assert len(names) == len(set(names))


@pytest.mark.parametrize("kind", ["guest", "hostile"])
def test_every_libdune_program_has_exactly_one_row(kind):
    """A test program nobody runs, or a row naming a program that does not exist, fails here."""
    scenario = {"guest": "selftest", "hostile": "hostile"}[kind]
    s = load_scenario(PROJECT_ROOT / "scenarios" / scenario)
    programs = sorted(p.stem for p in (PROJECT_ROOT / "src/libdune/tests" / kind).glob("*.c"))
    assert sorted(r.program for r in s.rows) == programs


def test_hostile_rows_check_the_kernel_log_and_have_one_exact_status():
    for r in load_scenario(PROJECT_ROOT / "scenarios/hostile").rows:
        assert r.check_kernel_log, r.id
        assert len(r.expect.status) == 1 and r.expect.status[0] != 0, r.id
