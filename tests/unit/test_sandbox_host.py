"""The sandbox's C host tests (scenarios/sandbox: policy parser, syscall table, argument checker over
every syscall x bad pointer, arena bookkeeping, path resolution and its race): no VMX needed.

`make check` builds and runs them; its last line is "N passed, M failed".
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from dunelab import PROJECT_ROOT


@pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("make")), reason="needs gcc and make")
def test_sandbox_host_unit_tests(tmp_path):
    r = subprocess.run(["make", "-C", str(PROJECT_ROOT / "scenarios/sandbox"), "check", f"O={tmp_path}"],
                       capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m, out[-3000:]
    assert r.returncode == 0 and int(m.group(2)) == 0, out[-3000:]
    assert int(m.group(1)) >= 30  # the suite exists in full, not an empty run
    # the checker really went through the table: every call with a pointer, every bad pointer
    cases = re.search(r"(\d+) calls with checked pointers, (\d+) \(call, argument, bad pointer\) cases", out)
    assert cases and int(cases.group(1)) > 150 and int(cases.group(2)) > 1500, out[-3000:]
