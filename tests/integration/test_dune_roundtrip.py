"""The cost of one Dune system call round trip (getpid), counted in events that hold on any machine.

libdune's guest/getpid_rt runs N raw getpid calls in Dune mode. The guest kernel's own tracing counts,
for that process only: VM exits (a kprobe on dune.ko's exit handler), MSR writes by the kernel (the
msr:write_msr tracepoint, per MSR), and the kernel's FPU save/restore work. Running it with N and with
0 calls and dividing the difference by N gives the per-call cost without start-up and exit. The wall
time printed by the program is CLOCK_MONOTONIC inside the guest: under Bochs, emulated nanoseconds.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pytest

from dunelab.selftest import GUEST_DIR

pytestmark = [pytest.mark.vm, pytest.mark.dune]

CALLS = 2000
TRACE = "/sys/kernel/tracing"
# kprobes: one per VM exit handled by dune.ko; kernel-side FPU register save (XSAVE) and restore.
KPROBES = {
    "dune_exit": "dune:dune_handle_exit",
    "fpu_save": "save_fpregs_to_fpstate",
    "fpu_restore": "switch_fpu_return",
}


@dataclass
class Run:
    events: Counter       # event name (msr writes as "wrmsr <index>") -> count, for the program's pid
    output: str


def _traced_run(dune, calls: int) -> Run:
    probes = "".join(f"echo 'p:dunelab/{name} {where}' >> {TRACE}/kprobe_events; "
                     for name, where in KPROBES.items())
    script = (
        f"mountpoint -q {TRACE} || mount -t tracefs nodev {TRACE}; "
        f"echo 0 > {TRACE}/tracing_on; echo 0 > {TRACE}/events/enable; "
        f"echo > {TRACE}/kprobe_events; {probes}"
        f"echo 8192 > {TRACE}/buffer_size_kb; echo > {TRACE}/trace; "
        f"echo 1 > {TRACE}/events/dunelab/enable; echo 1 > {TRACE}/events/msr/write_msr/enable; "
        f"echo 1 > {TRACE}/tracing_on; "
        f"taskset -c 1 {GUEST_DIR}/guest/getpid_rt {calls} > /tmp/getpid_rt.out 2>&1 & pid=$!; wait $pid; rc=$?; "
        f"echo 0 > {TRACE}/tracing_on; echo 0 > {TRACE}/events/enable; "
        f"echo PID $pid RC $rc; cat /tmp/getpid_rt.out; "
        f"grep -c . {TRACE}/per_cpu/cpu1/stats >/dev/null; cat {TRACE}/per_cpu/cpu*/stats | grep overrun; "
        f"cat {TRACE}/trace; echo > {TRACE}/kprobe_events"
    )
    r = dune.sh(script)
    out = r.stdout
    m = re.search(r"^PID (\d+) RC (\d+)$", out, re.M)
    assert m and m.group(2) == "0", out[-3000:]
    assert all(int(n) == 0 for n in re.findall(r"^overrun: (\d+)", out, re.M)), "trace buffer overran"
    pid = m.group(1)
    events: Counter = Counter()
    for line in out.splitlines():
        t = re.match(r"\s*\S+-(\d+)\s+\[\d+\].*?:\s+(\w+):\s*(.*)$", line)
        if not t or t.group(1) != pid:
            continue
        name, rest = t.group(2), t.group(3)
        if name == "write_msr":
            events[f"wrmsr {rest.split(',')[0].strip()}"] += 1
        else:
            events[name] += 1
    return Run(events, out)


def test_getpid_round_trip_costs(dune):
    dune.ensure_loaded()
    base = _traced_run(dune, 0)
    full = _traced_run(dune, CALLS)
    per_call = {k: (full.events[k] - base.events[k]) / CALLS for k in set(full.events) | set(base.events)}
    rt = re.search(r"ROUNDTRIP n=\d+ native_ns=(\d+) dune_ns=(\d+)", full.output)
    assert rt, full.output[-2000:]
    msr_writes = sum(v for k, v in per_call.items() if k.startswith("wrmsr"))
    lines = [f"  {k:24} {v:8.3f}" for k, v in sorted(per_call.items()) if abs(v) >= 0.001]
    print(f"\nper getpid round trip ({CALLS} calls, Bochs-emulated ns: native {rt.group(1)}, "
          f"Dune {rt.group(2)}):\n" + "\n".join(lines) + f"\n  {'MSR writes (all)':24} {msr_writes:8.3f}")
    assert per_call.get("dune_exit", 0) == pytest.approx(1.0, abs=0.05), per_call
