"""libdune's C host tests (page tables, page allocator, ELF loader, maps parser, layout): no VMX needed.

`make check` builds and runs them; its last line is "N passed, M failed".
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from dunelab import PROJECT_ROOT


@pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("make")), reason="needs gcc and make")
def test_libdune_host_unit_tests():
    r = subprocess.run(["make", "-C", str(PROJECT_ROOT / "src/libdune"), "check"],
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m, out[-3000:]
    assert r.returncode == 0 and int(m.group(2)) == 0, out[-3000:]
    assert int(m.group(1)) >= 40  # the suite exists in full, not an empty run
