"""Boot phases: console milestones found across reads, each recorded once, with the load average."""

from __future__ import annotations

import os

from dunelab.bootphases import BootWatch


def test_marks_split_across_reads_are_found_once(tmp_path):
    console = tmp_path / "console.log"
    console.write_bytes(b"\0\0ISOLINUX 6.04\r\n[    0.000000] Linux ver")
    w = BootWatch(console, None, started=100.0)
    w.poll(now=110.0)
    assert w.phases == {"loader": {"s": 10.0}}
    with open(console, "ab") as f:
        f.write(b"sion 6.1.0\n... Run /init as init process\n")
    w.poll(now=150.0)
    with open(console, "ab") as f:
        f.write(b"Linux version again\ndunelab: sshd up\n")
    w.poll(now=180.5)
    assert w.phases == {"loader": {"s": 10.0}, "kernel": {"s": 50.0}, "init": {"s": 50.0},
                        "ready": {"s": 80.5}}
    rec = w.record()
    assert rec["phases"] is w.phases and isinstance(rec["load_1min"], float)
    assert "emulator_cpu_s" not in rec          # no process group to account


def test_cpu_seconds_of_a_process_group(tmp_path):
    w = BootWatch(tmp_path / "none.log", os.getpgid(0), started=0.0)
    w.poll()                                   # a missing console is not an error
    assert w.phases == {}
    assert w.record()["emulator_cpu_s"] >= 0
