"""Scenarios: `scenarios/<name>/scenario.yaml`, one row per run, in the manner of kvm-unit-tests'
unittests.cfg (program, arguments, needs, groups, timeout, how it is judged, which metrics it emits).

Everything is validated when loaded, so a typo names its file, field and reason before a VM boots.
The rig, `dunelab run` and the integration tests all take their rows from here.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import PROJECT_ROOT
from .errors import DunelabError
from .schema import Field, Validator, load_yaml

# DUNELAB_SCENARIOS: another scenarios directory (the rig's own integration tests use a small one).
SCENARIOS_DIR = Path(os.environ.get("DUNELAB_SCENARIOS") or PROJECT_ROOT / "scenarios")
GUEST_ROOT = "/root/dunelab/scenarios"          # build: make -> GUEST_ROOT/<scenario>/
LIBDUNE_TESTS = "/root/dune-tests"              # build: libdune-tests:KIND -> LIBDUNE_TESTS/KIND/

# What a row may need from the lab; LabFacts says what the lab has.
# vmx: the guest can run Dune's hardware virtualization: VT-x + EPT for dune.ko; for the KVM back end, a
#      usable /dev/kvm in the guest (kvm_intel on VT-x, kvm_amd on SVM + NPT).
# dune: Dune is installed (dune.ko loaded, or KVM ready) with libdune and its test programs.
# dune-ko: the row tests dune.ko itself (its ioctls, its own counters): only where dune.ko is the back end.
NEEDS = ("vmx", "dune", "dune-ko")
# A program that finds a precondition missing exits with this (kvm-unit-tests' and automake's SKIP)
# after printing the reason on a line its row's `expect.skip` matches.
SKIP_STATUS = 77
# Parameter profiles: a backend's clock kind picks one (dunelab.backends: Backend.clock).
PROFILES = ("emulated", "hardware")
BUILDS = ("make", "none", "libdune-tests:guest", "libdune-tests:hostile")
UNITS = ("tsc", "ns", "us", "ms", "s", "req/s", "bytes", "pages", "count", "ratio")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_PARAM_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def _name_ok(v: str) -> str | None:
    return None if _NAME_RE.match(v) else "must be 1-64 of a-z, 0-9, '.', '-', '_', starting with a letter or digit"


def _regex_ok(v: str) -> str | None:
    try:
        re.compile(v)
    except re.error as e:
        return f"is not a valid regular expression: {e}"
    return None


def _status_ok(v: Any) -> str | None:
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 255 for s in items):
        return f"must be an exit status 0-255 or a non-empty list of them, got {v!r}"
    return None


def _scalar_ok(v: Any) -> str | None:
    return None if isinstance(v, (int, float, str)) and not isinstance(v, bool) else \
        f"must be a number or a string, got {type(v).__name__}"


def _params_ok(v: dict) -> str | None:
    bad = [k for k in v if not _PARAM_RE.match(str(k))]
    return f"parameter name {bad[0]!r} must be a-z, 0-9, _" if bad else None


def _arg_ok(v: Any) -> str | None:
    return None if isinstance(v, (str, int, float)) and not isinstance(v, bool) else \
        f"must be a string or a number, got {type(v).__name__}"


ROW_SCHEMA = {
    "name": Field(str, required=True, check=_name_ok, doc="unique in the scenario"),
    "description": Field(str, default=""),
    "program": Field(str, required=True,
                     doc="relative: the scenario's guest directory; absolute: as is"),
    "args": Field(list, default=[], items=Field(object, check=_arg_ok),
                  doc="{param} is replaced from the chosen params profile"),
    "needs": Field(list, default=[], items=Field(str, choices=NEEDS)),
    "groups": Field(list, default=[], items=Field(str, check=_name_ok)),
    "timeout": Field(int, default=600, minimum=1, maximum=6 * 3600, doc="seconds in the guest, then SIGKILL"),
    "expect": Field(dict, fields={
        "status": Field(object, default=0, check=_status_ok, doc="exit status or list of them"),
        "pass": Field(str, default=None, check=_regex_ok, doc="must match the output (multiline)"),
        "fail": Field(str, default=r"^FAIL\b", check=_regex_ok, doc="must not match the output"),
        "skip": Field(str, default=None, check=_regex_ok,
                      doc=f"exit status {SKIP_STATUS} and a line matching this: the row is skipped, that line "
                          "its reason (a precondition only the program can see, e.g. a PMU; as kvm-unit-tests)"),
    }),
    "metrics": Field(list, default=[], items=Field(str, check=_name_ok),
                     doc="metric names the program must emit (DUNELAB-METRIC lines)"),
    "check_kernel_log": Field(bool, default=False, doc="fail on an oops/BUG/WARN in dmesg after the row"),
    "repeat": Field(int, default=1, minimum=1, maximum=1000),
}

SCENARIO_SCHEMA = {
    "name": Field(str, required=True, check=_name_ok),
    "description": Field(str, default=""),
    "baseline": Field(str, default="linux", check=_name_ok,
                      doc="the variant the report divides the others by (trap: linux; gc: stw)"),
    "build": Field(str, default="make", choices=BUILDS,
                   doc="make: `make -C scenarios/NAME all O=DIR DUNE_PREFIX=PREFIX` in the image rootfs"),
    "params": Field(dict, fields={
        p: Field(dict, default={}, values=Field(object, check=_scalar_ok), check=_params_ok) for p in PROFILES
    }),
    "paper": Field(dict, optional=True, fields={
        "citation": Field(str, required=True),
        "machine": Field(str, default=""),
        "unit": Field(str, required=True, doc="e.g. cycles, ms, req/s"),
        "note": Field(str, default=""),
        "values": Field(dict, required=True, values=Field(dict, values=Field(float)),
                        doc="metric -> variant -> value"),
    }),
    "predictions": Field(list, default=[], items=Field(dict, fields={
        "metric": Field(str, required=True, check=_name_ok),
        "variant": Field(str, default=""),
        "event": Field(str, required=True, doc="a counter per operation: exits, exits.VMCALL, msr_writes, ..."),
        "per_op": Field(float, required=True, minimum=0),
        "tolerance": Field(float, default=0.0, minimum=0, doc="absolute, per operation"),
        "why": Field(str, required=True, doc="the design's reason, shown in the report"),
        "dune_backend": Field(str, default="dune", choices=("dune", "kvm"),
                              doc="the Dune back end the prediction is about (a lab runs one: its dune_backend)"),
    }), doc="what the design predicts for a counter per operation; the report checks each"),
    "rows": Field(list, required=True, items=Field(dict)),
}


@dataclass(frozen=True)
class Expect:
    status: tuple[int, ...]
    pass_re: str | None
    fail_re: str | None
    skip_re: str | None = None      # with exit status SKIP_STATUS: the row is skipped (runner.judge)


@dataclass(frozen=True)
class Row:
    scenario: str
    name: str
    description: str
    program: str                # as written
    guest_program: str          # where it is in the guest
    args: tuple[str, ...]       # as written, with {param} templates
    needs: tuple[str, ...]
    groups: tuple[str, ...]
    timeout: int
    expect: Expect
    metrics: tuple[str, ...]
    check_kernel_log: bool
    repeat: int

    @property
    def id(self) -> str:
        return f"{self.scenario}/{self.name}"

    def argv(self, params: Mapping[str, Any]) -> list[str]:
        """The program and its arguments with {param} filled in from `params`."""
        return [self.guest_program, *(str(a).format_map(params) for a in self.args)]

    def unmet(self, facts: LabFacts) -> str | None:
        """Why this row cannot run on a lab with `facts`, or None."""
        for need in self.needs:
            if not facts.has(need):
                return facts.why_not(need)
        return None


@dataclass(frozen=True)
class Paper:
    citation: str
    machine: str
    unit: str
    note: str
    values: dict[str, dict[str, float]]

    def to_json(self) -> dict:
        return {"citation": self.citation, "machine": self.machine, "unit": self.unit, "note": self.note,
                "values": self.values}


@dataclass(frozen=True)
class Prediction:
    metric: str
    variant: str
    event: str
    per_op: float
    tolerance: float
    why: str
    dune_backend: str = "dune"

    def to_json(self) -> dict:
        return {"metric": self.metric, "variant": self.variant, "event": self.event, "per_op": self.per_op,
                "tolerance": self.tolerance, "why": self.why, "dune_backend": self.dune_backend}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build: str
    params: dict[str, dict[str, Any]]
    paper: Paper | None
    rows: tuple[Row, ...]
    dir: Path
    predictions: tuple[Prediction, ...] = ()
    baseline: str = "linux"

    @property
    def guest_dir(self) -> str:
        if self.build.startswith("libdune-tests:"):
            return f"{LIBDUNE_TESTS}/{self.build.split(':', 1)[1]}"
        return f"{GUEST_ROOT}/{self.name}"

    def profile(self, clock: str) -> dict[str, Any]:
        """The parameters for a backend whose clock kind is `clock` ("emulated" or "hardware")."""
        return dict(self.params.get(clock, {}))

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise DunelabError(f"scenario {self.name} has no row {name!r} "
                           f"(rows: {', '.join(r.name for r in self.rows)})")


@dataclass(frozen=True)
class LabFacts:
    """What a lab offers rows: hardware virtualization in the guest, Dune installed, and which back end
    runs libdune's guest (dune.ko, or the guest kernel's KVM)."""

    vmx: bool
    dune: bool
    backend: str = ""
    broken: dict[str, str] = field(default_factory=dict)   # scenario -> why its programs could not be built
    dune_backend: str = "dune"
    kvm: bool = False               # the guest has a usable /dev/kvm (the kvm back end's "vmx")

    def has(self, need: str) -> bool:
        if need == "vmx" and self.dune_backend == "kvm":
            return self.kvm
        if need == "dune-ko":
            return self.dune_backend == "dune" and self.dune
        return bool(getattr(self, need))

    def why_not(self, need: str) -> str:
        if need == "vmx":
            if self.dune_backend == "kvm":
                return f"{self.backend or 'this'} guest has no usable /dev/kvm"
            return f"{self.backend or 'this'} guest has no VMX"
        if need == "dune":
            return "Dune is not installed in the guest" + ("" if self.has("vmx") else " (no VMX)")
        if need == "dune-ko":
            return (f"tests dune.ko itself; this lab runs Dune on {self.dune_backend}" if self.dune_backend != "dune"
                    else "dune.ko is not loaded in the guest")
        return f"needs {need}"

    @property
    def env(self) -> dict[str, str]:
        """Environment every row runs with: the KVM back end is forced where the lab asks for it."""
        return {"DUNE_BACKEND": self.dune_backend} if self.dune_backend != "dune" else {}


def _template_fields(arg: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(arg) if f is not None]
    except ValueError as e:
        raise ValueError(str(e)) from None


def _load_row(v: Validator, scenario: str, guest_dir: str, data: Any, i: int,
              params: dict[str, dict[str, Any]]) -> Row:
    path = f"rows[{i}]"
    d = v.mapping(ROW_SCHEMA, data, path)
    for j, arg in enumerate(d["args"]):
        try:
            names = _template_fields(str(arg))
        except ValueError as e:
            v.fail(f"{path}.args[{j}]", f"bad template {arg!r}: {e}")
        for name in names:
            if not _PARAM_RE.match(name):
                v.fail(f"{path}.args[{j}]", f"{{{name}}} is not a parameter name")
            missing = [p for p, values in params.items() if name not in values]
            if missing:
                v.fail(f"{path}.args[{j}]", f"uses {{{name}}}, which params.{missing[0]} does not define")
    prog = d["program"]
    if not prog.strip() or "\n" in prog:
        v.fail(f"{path}.program", "must be a program path on one line")
    if prog.startswith("/"):
        guest_program = prog
    elif not guest_dir:
        if "/" in prog:
            v.fail(f"{path}.program", "a scenario without a build (build: none) names absolute paths or "
                                      "commands found on the guest's PATH")
        guest_program = prog
    else:
        guest_program = f"{guest_dir}/{prog}"
    status = d["expect"]["status"]
    expect = Expect(tuple(status if isinstance(status, list) else [status]), d["expect"]["pass"], d["expect"]["fail"],
                    d["expect"]["skip"])
    return Row(scenario=scenario, name=d["name"], description=d["description"], program=prog,
               guest_program=guest_program, args=tuple(str(a) for a in d["args"]), needs=tuple(d["needs"]),
               groups=tuple(d["groups"]), timeout=d["timeout"], expect=expect, metrics=tuple(d["metrics"]),
               check_kernel_log=d["check_kernel_log"], repeat=d["repeat"])


def load_scenario(path: Path | str) -> Scenario:
    """Load scenarios/NAME/scenario.yaml (or the directory holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "scenario.yaml"
    v = Validator(p)
    d = v.mapping(SCENARIO_SCHEMA, load_yaml(p))
    if d["name"] != p.parent.name:
        v.fail("name", f"must be the directory's name {p.parent.name!r}, got {d['name']!r}")
    params = {k: val for k, val in d["params"].items() if val}
    if params and set(params) != set(PROFILES):
        have = next(iter(params))
        other = next(x for x in PROFILES if x != have)
        v.fail(f"params.{other}", f"is required when params.{have} is given (the rig picks one by backend)")
    if params and set(params["emulated"]) != set(params["hardware"]):
        diff = sorted(set(params["emulated"]) ^ set(params["hardware"]))[0]
        v.fail("params", f"profiles must define the same parameters; {diff!r} is in only one")
    if not d["rows"]:
        v.fail("rows", "must list at least one row")
    scenario_guest_dir = (f"{LIBDUNE_TESTS}/{d['build'].split(':', 1)[1]}" if d["build"].startswith("libdune-tests:")
                          else "" if d["build"] == "none" else f"{GUEST_ROOT}/{d['name']}")
    rows = [_load_row(v, d["name"], scenario_guest_dir, r, i, params) for i, r in enumerate(d["rows"])]
    seen: set[str] = set()
    for i, r in enumerate(rows):
        if r.name in seen:
            v.fail(f"rows[{i}].name", f"duplicate row name {r.name!r}")
        seen.add(r.name)
    paper = None
    if d["paper"]:
        pd = d["paper"]
        paper = Paper(pd["citation"], pd["machine"], pd["unit"], pd["note"],
                      {m: dict(vs) for m, vs in pd["values"].items()})
    emitted = {m for r in rows for m in r.metrics}
    predictions = []
    for i, pd in enumerate(d["predictions"]):
        if pd["metric"] not in emitted:
            v.fail(f"predictions[{i}].metric", f"no row emits metric {pd['metric']!r}")
        predictions.append(Prediction(**pd))
    return Scenario(name=d["name"], description=d["description"], build=d["build"], params=params,
                    paper=paper, rows=tuple(rows), dir=p.parent, predictions=tuple(predictions),
                    baseline=d["baseline"])


def discover(root: Path = SCENARIOS_DIR) -> list[Scenario]:
    """Every scenario under root, in the order the rig runs them (ORDER first, then by name)."""
    found = [load_scenario(p) for p in sorted(root.glob("*/scenario.yaml"))]
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(found, key=lambda s: (rank.get(s.name, len(ORDER)), s.name))


# Self-tests and hostile programs first: if Dune itself is broken, that is the first thing to read.
ORDER = ("selftest", "hostile", "trap", "gc", "sandbox")


def select(scenarios: Iterable[Scenario], names: Iterable[str] = (), groups: Iterable[str] = ()
           ) -> list[tuple[Scenario, list[Row]]]:
    """Rows to run: every row of the named scenarios (all when none), restricted to `groups` if given.
    A name may be SCENARIO or SCENARIO/ROW."""
    scenarios = list(scenarios)
    by_name = {s.name: s for s in scenarios}
    names, groups = list(names), set(groups)
    wanted: dict[str, set[str] | None] = {}
    for n in names:
        scen, _, row = n.partition("/")
        if scen not in by_name:
            raise DunelabError(f"no scenario {scen!r} (scenarios: {', '.join(by_name) or 'none'})")
        if row:
            by_name[scen].row(row)   # raises with the list of rows
            current = wanted.get(scen, set())
            if current is not None:
                wanted[scen] = current | {row}
        else:
            wanted[scen] = None
    out = []
    for s in scenarios:
        if names and s.name not in wanted:
            continue
        only = wanted.get(s.name)
        rows = [r for r in s.rows if (only is None or r.name in only) and (not groups or groups & set(r.groups))]
        if rows:
            out.append((s, rows))
    if not out:
        raise DunelabError("no row matches " + (f"groups {', '.join(sorted(groups))}" if groups else "the selection"))
    return out


@dataclass
class ScenarioInfo:
    """What the report needs to know about a scenario (kept in the results, so the report never
    re-reads scenario files)."""

    name: str
    description: str
    profile: str
    params: dict[str, Any] = field(default_factory=dict)
    paper: dict | None = None
    predictions: list[dict] = field(default_factory=list)
    baseline: str = "linux"

    @classmethod
    def of(cls, s: Scenario, profile: str) -> ScenarioInfo:
        return cls(s.name, s.description, profile, s.profile(profile), s.paper.to_json() if s.paper else None,
                   [p.to_json() for p in s.predictions], s.baseline)

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "profile": self.profile,
                "params": self.params, "paper": self.paper, "predictions": self.predictions,
                "baseline": self.baseline}

    @classmethod
    def from_json(cls, d: dict) -> ScenarioInfo:
        return cls(d["name"], d.get("description", ""), d["profile"], dict(d.get("params") or {}), d.get("paper"),
                   list(d.get("predictions") or []), d.get("baseline") or "linux")
