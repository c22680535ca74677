"""Typed results of a run: what the rig measured, in a versioned JSON form (results.schema.json).

A run is one RunRecord: where it ran (Environment), the pipeline's stages, and one RowResult per
executed row attempt, each with the MetricSamples its program emitted. The report renders from these
records alone; `dunelab report DIR` rebuilds it from results.json.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import DunelabError

SCHEMA_VERSION = 1
SCHEMA_ID = f"https://dunelab.invalid/schemas/results-v{SCHEMA_VERSION}.json"
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")

# Row outcomes.
PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
STATUSES = (PASSED, FAILED, SKIPPED, ERROR)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    k = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(sorted_values[lo])
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p10: float
    p90: float
    mean: float
    min: float
    max: float
    stdev: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        s = sorted(values)
        return cls(n=len(s), median=percentile(s, 50), p10=percentile(s, 10), p90=percentile(s, 90),
                   mean=statistics.fmean(s), min=float(s[0]), max=float(s[-1]),
                   stdev=statistics.stdev(s) if len(s) > 1 else 0.0)

    @property
    def spread(self) -> float:
        return self.p90 - self.p10


@dataclass
class MetricSample:
    """One metric as a program emitted it: raw samples (net of the timing overhead) and the counter
    deltas over the same work."""

    name: str
    variant: str
    unit: str
    samples: list[float]
    overhead: float | None = None
    ops_per_sample: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> Summary:
        return Summary.of(self.samples)

    def per_op(self, value: float) -> float:
        return value / self.ops_per_sample

    def events_per_op(self) -> dict[str, float]:
        """Flattened counters divided by events['ops']: {'exits.VMCALL': 1.0, 'msr_writes': 8.0, ...}."""
        ops = self.events.get("ops")
        if not ops:
            return {}
        out: dict[str, float] = {}

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, dict):
                for k, sub in v.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), sub)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[prefix] = v / ops

        walk("", {k: v for k, v in self.events.items() if k != "ops"})
        return out

    def exits_per_op(self) -> float | None:
        exits = self.events.get("exits")
        ops = self.events.get("ops")
        if not isinstance(exits, dict) or not ops:
            return None
        return sum(exits.values()) / ops

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> MetricSample:
        return cls(name=d["name"], variant=d.get("variant", ""), unit=d["unit"],
                   samples=[float(x) for x in d["samples"]], overhead=d.get("overhead"),
                   ops_per_sample=int(d.get("ops_per_sample", 1)), params=dict(d.get("params") or {}),
                   events=dict(d.get("events") or {}))


@dataclass
class RowResult:
    """One attempt of one row."""

    scenario: str
    row: str
    status: str                      # passed | failed | skipped | error
    reason: str = ""                 # why it did not pass (empty when it passed)
    attempt: int = 1
    command: str = ""
    exit_status: int | None = None
    seconds: float = 0.0
    output_tail: str = ""
    output_file: str | None = None   # full output, relative to the results directory
    metrics: list[MetricSample] = field(default_factory=list)
    kernel_log: list[str] = field(default_factory=list)   # problem lines dmesg showed after the row

    @property
    def id(self) -> str:
        return f"{self.scenario}/{self.row}"

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_json(self) -> dict:
        d = asdict(self)
        d["metrics"] = [m.to_json() for m in self.metrics]
        return d

    @classmethod
    def from_json(cls, d: dict) -> RowResult:
        return cls(scenario=d["scenario"], row=d["row"], status=d["status"], reason=d.get("reason", ""),
                   attempt=d.get("attempt", 1), command=d.get("command", ""), exit_status=d.get("exit_status"),
                   seconds=d.get("seconds", 0.0), output_tail=d.get("output_tail", ""),
                   output_file=d.get("output_file"),
                   metrics=[MetricSample.from_json(m) for m in d.get("metrics", [])],
                   kernel_log=list(d.get("kernel_log", [])))


@dataclass
class StageResult:
    name: str
    status: str                      # ok | failed | skipped
    seconds: float
    detail: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> StageResult:
        return cls(d["name"], d["status"], d["seconds"], d.get("detail", ""))


@dataclass
class Environment:
    """Where the run happened. `clock` says what a TSC tick is there: "emulated" (Bochs, TCG: an
    emulated tick, never comparable with hardware cycles) or "hardware"."""

    lab: str
    host: str
    backend: str = ""
    backend_why: str = ""
    clock: str = ""
    guest_kernel: str | None = None
    guest_cpu_model: str | None = None
    guest_cpus: int | None = None
    guest_vmx: bool | None = None
    guest_ept: bool | None = None
    boot_seconds: float | None = None
    image_key: str | None = None
    artifacts_key: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> Environment:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class RunRecord:
    run_id: str
    started: str
    env: Environment
    finished: str | None = None
    success: bool | None = None
    stages: list[StageResult] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    scenarios: dict[str, dict] = field(default_factory=dict)   # name -> ScenarioInfo.to_json()
    boots: list[dict] = field(default_factory=list)            # the lab's boot history (boots.jsonl rows)
    files: dict[str, str] = field(default_factory=dict)        # what else is in the directory: role -> name

    def to_json(self) -> dict:
        return {"$schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION, "run_id": self.run_id,
                "started": self.started, "finished": self.finished, "success": self.success,
                "env": self.env.to_json(), "stages": [s.to_json() for s in self.stages],
                "rows": [r.to_json() for r in self.rows], "scenarios": self.scenarios, "boots": self.boots,
                "files": self.files}

    @classmethod
    def from_json(cls, d: dict) -> RunRecord:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DunelabError(f"results schema version {version!r} is not supported (this dunelab reads "
                               f"version {SCHEMA_VERSION})")
        return cls(run_id=d["run_id"], started=d["started"], finished=d.get("finished"), success=d.get("success"),
                   env=Environment.from_json(d["env"]), stages=[StageResult.from_json(s) for s in d["stages"]],
                   rows=[RowResult.from_json(r) for r in d["rows"]], scenarios=dict(d.get("scenarios") or {}),
                   boots=list(d.get("boots") or []), files=dict(d.get("files") or {}))

    # ---- queries the report and the tests use -------------------------------------------------
    def rows_of(self, scenario: str) -> list[RowResult]:
        return [r for r in self.rows if r.scenario == scenario]

    def metrics(self, scenario: str | None = None) -> list[MetricSample]:
        return [m for r in self.rows if scenario is None or r.scenario == scenario for m in r.metrics]

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(STATUSES, 0)
        for r in self.rows:
            c[r.status] = c.get(r.status, 0) + 1
        return c

    # ---- files ---------------------------------------------------------------------------------
    def save(self, out_dir: Path) -> Path:
        """Write results.json atomically (a crash mid-write never leaves a torn file)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        p = path / "results.json" if path.is_dir() else path
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise DunelabError(f"{p}: no such file (a results directory holds results.json)") from None
        except ValueError as e:
            raise DunelabError(f"{p}: not valid JSON ({e})") from None
        errors = validate(data)
        if errors:
            raise DunelabError(f"{p}: does not match the results schema: {errors[0]}")
        return cls.from_json(data)


def validate(data: dict) -> list[str]:
    """Errors of `data` against results.schema.json (empty when valid)."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]
