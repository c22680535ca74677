"""A realistic RunRecord for record, report and browser tests: a selftest scenario and a trap-like
scenario with Linux and Dune samples, exits per op, a paper column and a prediction."""

from __future__ import annotations

import random

from dunelab.records import Environment, MetricSample, RowResult, RunRecord, StageResult

PAPER = {"citation": "Belay et al., OSDI 2012", "machine": "Xeon E3-1230 v2", "unit": "cycles", "note": "",
         "values": {"getpid": {"linux": 138, "dune": 895}, "pgfault": {"linux": 2687, "dune": 5093},
                    "appel1": {"linux": 701413, "dune": 94496}}}


def samples(rng: random.Random, center: float, n: int) -> list[float]:
    return [round(center * rng.uniform(0.9, 1.3)) for _ in range(n)]


def make_record(n: int = 200, clock: str = "emulated") -> RunRecord:
    rng = random.Random(7)
    rec = RunRecord(run_id="itest-20261129T000000Z", started="2026-11-29T00:00:00+00:00",
                    env=Environment(lab="itest", host="host x86_64", backend="bochs", backend_why="no VT-x",
                                    clock=clock, guest_kernel="6.1.0-56-amd64", guest_cpu_model="Skylake-X",
                                    guest_cpus=2, guest_vmx=True, guest_ept=True, boot_seconds=201.5))
    rec.stages = [StageResult("up", "ok", 201.5, "bochs: SSH after 201.5s"),
                  StageResult("scenarios", "failed", 300.0, "1 failed")]
    rec.rows.append(RowResult("selftest", "hello", "passed", command="/root/dune-tests/guest/hello", exit_status=0,
                              seconds=3.1, output_tail="PASS hello"))
    rec.rows.append(RowResult("selftest", "fork", "failed", reason="exit status 1, expected 0",
                              command="/root/dune-tests/guest/fork", exit_status=1, seconds=4.0,
                              output_tail="FAIL child <lost> & done"))
    for name, lin, dune, exits, ops in (("getpid", 2400, 61000, 1.0, 1), ("pgfault", 9000, 30000, 3.0, 1),
                                        ("appel1", 900000, 300000, 0.0, 100)):
        for variant, center in (("linux", lin), ("dune", dune)):
            ev = {}
            if variant == "dune":
                total_ops = n * ops
                ev = {"ops": total_ops, "exits": {"VMCALL": exits * total_ops, "EXTERNAL_INTERRUPT": 3},
                      "msr_writes": 8 * total_ops}
            m = MetricSample(name, variant, "tsc", samples(rng, center, n), overhead=24, ops_per_sample=ops,
                             params={"n": n}, events=ev)
            rec.rows.append(RowResult("trap", f"{name}-{variant}", "passed", command=f"trap {name} --mode {variant}",
                                      exit_status=0, seconds=12.0, metrics=[m]))
    rec.scenarios = {
        "selftest": {"name": "selftest", "description": "self-tests", "profile": "emulated", "params": {},
                     "paper": None, "predictions": []},
        "trap": {"name": "trap", "description": "trap-heavy code, Linux vs Dune", "profile": "emulated",
                 "params": {"n": n, "pages": 100}, "paper": PAPER,
                 "predictions": [{"metric": "getpid", "variant": "dune", "event": "exits.VMCALL", "per_op": 1.0,
                                  "tolerance": 0.01, "why": "one VMCALL per syscall"}]},
    }
    rec.boots = [{"backend": "bochs", "boot_seconds": 205.0, "method": "cold"},
                 {"backend": "bochs", "boot_seconds": 201.5, "method": "cold"}]
    rec.finished = "2026-11-29T00:10:00+00:00"
    rec.success = False
    return rec
