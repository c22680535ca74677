"""Results records: they round-trip through results.json, match the versioned schema, and summaries
are the statistics they claim to be."""

from __future__ import annotations

import json

import pytest

from dunelab.errors import DunelabError
from dunelab.records import SCHEMA_VERSION, MetricSample, RunRecord, Summary, percentile, validate

from .records_fixture import make_record


def test_round_trip_is_lossless(tmp_path):
    rec = make_record()
    path = rec.save(tmp_path)
    assert path.name == "results.json"
    back = RunRecord.load(tmp_path)
    assert back.to_json() == rec.to_json()
    assert back.rows[3].metrics[0].samples == rec.rows[3].metrics[0].samples


def test_saved_results_match_the_schema(tmp_path):
    data = make_record().to_json()
    assert data["schema_version"] == SCHEMA_VERSION
    assert validate(data) == []


@pytest.mark.parametrize("mutate,where", [
    (lambda d: d["rows"][0].update(status="maybe"), "rows/0/status"),
    (lambda d: d["rows"][2]["metrics"][0].update(samples=[]), "rows/2/metrics/0/samples"),
    (lambda d: d["rows"][2]["metrics"][0].update(unit="cycles"), "rows/2/metrics/0/unit"),
    (lambda d: d["env"].update(clock="sundial"), "env/clock"),
    (lambda d: d.pop("run_id"), "(top)"),
    (lambda d: d.update(surprise=1), "(top)"),
])
def test_schema_rejects_malformed_results(mutate, where):
    data = make_record().to_json()
    mutate(data)
    errors = validate(data)
    assert errors and errors[0].startswith(where), errors


def test_load_refers_to_the_file_on_errors(tmp_path):
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(DunelabError, match="results.json: not valid JSON"):
        RunRecord.load(tmp_path)
    data = make_record().to_json()
    data["schema_version"] = 99
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(DunelabError, match="results.json: does not match the results schema"):
        RunRecord.load(tmp_path)
    with pytest.raises(DunelabError, match="no such file"):
        RunRecord.load(tmp_path / "nowhere")


def test_save_is_atomic(tmp_path):
    rec = make_record()
    rec.save(tmp_path)
    assert not list(tmp_path.glob("*.tmp"))


def test_summary_statistics():
    s = Summary.of([5, 1, 4, 2, 3, 10, 6, 7, 9, 8])
    assert (s.n, s.min, s.max, s.median) == (10, 1, 10, 5.5)
    assert s.p10 == pytest.approx(1.9) and s.p90 == pytest.approx(9.1)
    assert percentile([1.0], 90) == 1.0
    assert Summary.of([3]).stdev == 0.0


def test_events_per_op_are_flattened_and_divided():
    m = MetricSample("getpid", "dune", "tsc", [1.0], events={"ops": 100, "exits": {"VMCALL": 100,
                                                                                  "EPT_VIOLATION": 3},
                                                             "msr_writes": 800})
    assert m.events_per_op() == {"exits.VMCALL": 1.0, "exits.EPT_VIOLATION": 0.03, "msr_writes": 8.0}
    assert m.exits_per_op() == pytest.approx(1.03)
    assert MetricSample("x", "linux", "tsc", [1.0]).events_per_op() == {}
