"""The multi-run view: hosts side by side, each number in its own host's unit."""

from __future__ import annotations

from dunelab.report import render_fleet

from .records_fixture import make_record


def meta(*hosts):
    return {"schema": "dunelab-fleet-v1", "run_id": "fleet-x", "started": "t0", "finished": "t1",
            "success": all(ok for _, ok, _ in hosts),
            "hosts": [{"name": n, "dir": n, "success": ok, "failed_stage": st, "reason": "boom" if st else "",
                       "target": f"root@{n}", "bare_metal": n == "iron"} for n, ok, st in hosts]}


def test_two_hosts_side_by_side_with_their_own_units(tmp_path):
    emu, hw = make_record(n=50, clock="emulated"), make_record(n=50, clock="hardware")
    hw.env.backend = "ssh"
    m = meta(("tcg", False, None), ("iron", True, None), ("gone", False, "connect"))
    files = render_fleet(m, {"tcg": emu, "iron": hw}, tmp_path)
    md = files.markdown.read_text()
    assert "| row | tcg | iron | gone |" in md
    assert "| fork | failed 4.0s: exit status 1, expected 0 | failed 4.0s: exit status 1, expected 0 | not run |" in md
    line = next(x for x in md.splitlines() if x.startswith("| getpid [dune]"))
    assert "emulated ticks" in line.split("|")[2] and "cycles (TSC)" in line.split("|")[3] and "–" in line.split("|")[4]
    assert "### Ratio to linux per host" in md
    assert "### VM exits per operation per host" in md
    assert "**Bare metal**: dune.ko was loaded into the kernel of iron itself." in md
    assert "### gone — stage connect failed" in md
    assert files.plots["fleet-trap"].stat().st_size > 1000 and "fleet-selftest" not in files.plots
    html = files.html.read_text()
    assert html.count("data:image/png;base64,") == 1 and "<th>iron</th>" in html
