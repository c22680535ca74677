"""Running scenario rows in a guest and judging them.

`run(conn, row, params)` is a plain function of a Fabric Connection, like a Fabric task: it runs one
row's program under the row's timeout, judges the outcome (exit status, pass/fail patterns, declared
metrics, kernel log) and returns a RowResult. `run_rows` runs a selection, records every attempt as
it finishes and goes on after a failing row; if the VM itself dies, the remaining rows are recorded
as not run instead of each waiting out its timeout.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .records import ERROR, FAILED, PASSED, SKIPPED, MetricSample, RowResult
from .scenarios import SKIP_STATUS, UNITS, LabFacts, Row, Scenario

METRIC_PREFIX = "DUNELAB-METRIC "
KILLED = 128 + 9           # `timeout -s KILL` and the OOM killer
TAIL_CHARS = 4000


class ChannelLost(Exception):
    """The SSH session broke while a row ran (the VM may have died)."""


class GuestSilent(Exception):
    """The guest did not answer within the row's host-side limit; .result is the row's record."""

    def __init__(self, result: RowResult):
        super().__init__(result.reason)
        self.result = result


@dataclass
class ParsedOutput:
    metrics: list[MetricSample]
    errors: list[str]
    text: str                 # the output with metric lines shortened (for tails and logs)


def parse_output(output: str) -> ParsedOutput:
    """Pull DUNELAB-METRIC lines out of a program's output."""
    metrics, errors, lines = [], [], []
    for n, line in enumerate(output.splitlines(), 1):
        if not line.startswith(METRIC_PREFIX):
            lines.append(line)
            continue
        try:
            d = json.loads(line[len(METRIC_PREFIX):])
            m = _metric(d)
        except (ValueError, KeyError, TypeError) as e:
            errors.append(f"line {n}: bad {METRIC_PREFIX.strip()} line: {e}")
            lines.append(line[:200])
            continue
        metrics.append(m)
        lines.append(f"{METRIC_PREFIX}{m.name} [{m.variant}] {len(m.samples)} samples, unit {m.unit}")
    return ParsedOutput(metrics, errors, "\n".join(lines))


def _metric(d: Any) -> MetricSample:
    if not isinstance(d, dict):
        raise TypeError("not a JSON object")
    for key in ("name", "unit", "samples"):
        if key not in d:
            raise KeyError(f"missing {key!r}")
    if d["unit"] not in UNITS:
        raise ValueError(f"unit {d['unit']!r} is not one of {', '.join(UNITS)}")
    samples = d["samples"]
    if not isinstance(samples, list) or not samples:
        raise ValueError("samples must be a non-empty list")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x == x for x in samples):
        raise ValueError("samples must be numbers")
    ops = d.get("ops_per_sample", 1)
    if not isinstance(ops, int) or ops < 1:
        raise ValueError("ops_per_sample must be a positive integer")
    events = d.get("events") or {}
    if not isinstance(events, dict):
        raise ValueError("events must be an object")
    return MetricSample.from_json(d)


def judge(row: Row, status: int | None, output: str, seconds: float = 0.0) -> tuple[str, str, list[MetricSample]]:
    """(status, reason, metrics) of one attempt: passed only if every check holds; skipped when the
    program exits with SKIP_STATUS and prints a line the row's `expect.skip` matches (the reason)."""
    parsed = parse_output(output)
    if row.expect.skip_re and status == SKIP_STATUS:
        hit = re.search(row.expect.skip_re, parsed.text, re.M)
        if hit:
            return SKIPPED, parsed.text[hit.start():].splitlines()[0][:300], []
    reasons = []
    if status is None:
        reasons.append("no exit status")
    elif status not in row.expect.status:
        want = " or ".join(map(str, row.expect.status))
        if status == KILLED and KILLED not in row.expect.status:
            hit = seconds >= row.timeout - 1
            reasons.append(f"killed with SIGKILL ({'timeout ' + str(row.timeout) + 's' if hit else 'not by timeout'}),"
                           f" expected status {want}")
        else:
            reasons.append(f"exit status {status}, expected {want}")
    if row.expect.pass_re and not re.search(row.expect.pass_re, parsed.text, re.M):
        reasons.append(f"no output line matches /{row.expect.pass_re}/")
    if row.expect.fail_re:
        bad = re.search(row.expect.fail_re, parsed.text, re.M)
        if bad:
            line = parsed.text[bad.start():].splitlines()[0] if parsed.text[bad.start():] else bad.group(0)
            reasons.append(f"output matches /{row.expect.fail_re}/: {line[:160]}")
    reasons += parsed.errors
    emitted = {m.name for m in parsed.metrics}
    missing = [m for m in row.metrics if m not in emitted]
    if missing:
        reasons.append(f"did not emit metric{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return (FAILED if reasons else PASSED), "; ".join(reasons), parsed.metrics


def command_line(row: Row, params: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    """The row's command as the guest's shell runs it (with `env` as VAR=value words in front)."""
    words = [f"{k}={v}" for k, v in sorted((env or {}).items())]
    return shlex.join([*(["env", *words] if words else []), *row.argv(params)])


def _dmesg_mark(conn) -> str:
    from .provisioning import tasks

    return tasks().dmesg_mark.body(conn)   # the task's plain function: any Connection-like object


def _dmesg_problems(conn, mark: str) -> list[str]:
    from .provisioning import tasks

    return [line.strip() for line in tasks().dmesg_problems.body(conn, mark)]


def run(conn, row: Row, params: Mapping[str, Any], attempt: int = 1, log_dir: Path | None = None,
        env: Mapping[str, str] | None = None) -> RowResult:
    """Run one attempt of `row` over the Fabric connection `conn` and judge it.

    Raises ChannelLost when the connection breaks (the caller decides whether the VM is gone)."""
    import invoke
    import paramiko

    cmd = command_line(row, params, env)
    cwd = row.guest_program.rsplit("/", 1)[0] if "/" in row.guest_program else "/root"
    # `timeout` in the guest as well: a hung program must not hang the run; the host-side timeout is
    # the backstop for a guest too wedged to kill it.
    remote = f"cd {shlex.quote(cwd)} 2>/dev/null || cd /; exec timeout -s KILL {row.timeout} {cmd}"
    result = RowResult(scenario=row.scenario, row=row.name, status=ERROR, attempt=attempt, command=cmd)
    t0 = time.monotonic()
    try:
        mark = _dmesg_mark(conn) if row.check_kernel_log else None
        r = conn.run(remote, hide=True, warn=True, timeout=row.timeout + 120)
        if r.exited == -1 and not _transport_alive(conn):
            # No exit status and no connection: the machine (or the network to it) went away. With the
            # connection alive, -1 is a program killed by a signal that `timeout` passed on.
            raise ChannelLost("the SSH connection closed during the row")
        result.seconds = round(time.monotonic() - t0, 3)
        output = r.stdout + (("\n" + r.stderr) if r.stderr else "")
        result.exit_status = r.exited
        result.status, result.reason, result.metrics = judge(row, r.exited, output, result.seconds)
        if mark is not None:
            result.kernel_log = _dmesg_problems(conn, mark)
            if result.kernel_log:
                result.status = FAILED
                result.reason = "; ".join(filter(None, [result.reason,
                                                        f"kernel log after the row: {result.kernel_log[0][:200]}"]))
    except invoke.exceptions.CommandTimedOut:
        result.seconds = round(time.monotonic() - t0, 3)
        result.reason = f"no answer from the guest within {row.timeout + 120}s (host-side timeout)"
        raise GuestSilent(result) from None
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise ChannelLost(f"{type(e).__name__}: {e}") from e
    text = parse_output(output).text
    result.output_tail = text[-TAIL_CHARS:]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        name = f"{row.scenario}--{row.name}" + (f"--{attempt}" if attempt > 1 else "") + ".log"
        (log_dir / name).write_text(f"$ {cmd}\n{text}\n[exit status {r.exited}, {result.seconds:.1f}s]\n")
        result.output_file = f"{log_dir.name}/{name}"
    return result


def _transport_alive(conn) -> bool:
    """Whether `conn`'s SSH transport is still up (True when it cannot be told, e.g. a test double)."""
    try:
        transport = conn.client.get_transport()
    except AttributeError:
        return True
    return transport is not None and transport.is_active()


def _connected(conn_of: Callable[[], Any]):
    """conn_of(), with a failure to (re)connect reported like a connection lost during the row."""
    import paramiko

    try:
        return conn_of()
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise ChannelLost(f"cannot reconnect: {type(e).__name__}: {e}") from e


def _answers(conn_of: Callable[[], Any]) -> bool:
    try:
        return conn_of().run("true", hide=True, warn=True, timeout=60).exited == 0
    except Exception:
        return False


def skipped(row: Row, reason: str) -> RowResult:
    return RowResult(scenario=row.scenario, row=row.name, status=SKIPPED, reason=reason)


def run_rows(conn_of: Callable[[], Any], plan: Iterable[tuple[Scenario, list[Row]]], facts: LabFacts, clock: str,
             record: Callable[[RowResult], None], log_dir: Path | None = None,
             vm_alive: Callable[[], bool] = lambda: True,
             progress: Callable[[str], None] = lambda _msg: None) -> list[RowResult]:
    """Run every row of `plan` (with its repeats); `record` is called after each attempt, so a crash
    later loses nothing already measured. Returns all results."""
    results: list[RowResult] = []
    lost: str | None = None
    env = facts.env
    for scenario, rows in plan:
        params = scenario.profile(clock)
        for row in rows:
            for attempt in range(1, row.repeat + 1):
                if lost:
                    res = RowResult(scenario=row.scenario, row=row.name, status=ERROR, attempt=attempt,
                                    command=command_line(row, params, env), reason=f"not run: {lost}")
                elif why := row.unmet(facts):
                    res = skipped(row, why)
                elif row.scenario in facts.broken:
                    res = RowResult(scenario=row.scenario, row=row.name, status=ERROR, attempt=attempt,
                                    command=command_line(row, params, env),
                                    reason=f"scenario build failed: {facts.broken[row.scenario][:300]}")
                else:
                    progress(f"{row.id}" + (f" #{attempt}" if row.repeat > 1 else ""))
                    try:
                        res = run(_connected(conn_of), row, params, attempt, log_dir, env)
                    except GuestSilent as e:
                        # The guest's own `timeout` should have fired long before: is anybody home?
                        res = e.result
                        if not _answers(conn_of):
                            lost = "the VM stopped answering"
                            res.reason += "; the VM stopped answering"
                    except ChannelLost as e:
                        alive = vm_alive()
                        lost = "the VM died" if not alive else None
                        res = RowResult(scenario=row.scenario, row=row.name, status=ERROR, attempt=attempt,
                                        command=command_line(row, params, env),
                                        reason=f"SSH connection lost during the row ({e})"
                                               + ("; the VM died" if not alive else ""))
                    except Exception as e:   # a rig-side surprise: recorded like any failure, the run goes on
                        res = RowResult(scenario=row.scenario, row=row.name, status=ERROR, attempt=attempt,
                                        command=command_line(row, params, env),
                                        reason=f"the rig failed running this row: {type(e).__name__}: {e}"[:500])
                results.append(res)
                record(res)
                progress(f"{row.id}: {res.status}" + (f" ({res.reason[:100]})" if res.reason else "")
                         + (f" {res.seconds:.1f}s" if res.seconds else ""))
                if res.status == SKIPPED:
                    break
    return results
