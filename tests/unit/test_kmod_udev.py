"""Who may open /dev/dune: dune.ko makes it root-only; src/kmod/udev grants it to group "dune" the
way udev grants /dev/kvm to group "kvm". The lab guest (a busybox initramfs under Bochs) has no udev,
so the rule itself is checked here: its match and assignments, that install.sh stages exactly the rule
and the sysusers entry, and that DKMS runs install.sh after installing the module."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from dunelab import PROJECT_ROOT

KMOD = PROJECT_ROOT / "src/kmod"


def _rule_lines() -> list[str]:
    text = (KMOD / "udev/60-dune.rules").read_text()
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_module_creates_dev_dune_root_only():
    src = (KMOD / "dune_main.c").read_text()
    dev = re.search(r"static struct miscdevice dune_dev = \{(.*?)\};", src, re.S).group(1)
    assert re.search(r"\.mode\s*=\s*0600,", dev), dev


def test_rule_gives_dev_dune_to_group_dune_0660():
    lines = _rule_lines()
    assert len(lines) == 1, lines
    keys = {k + op: v for k, op, v in re.findall(r'(\w+)(==|=)"([^"]*)"', lines[0])}
    assert keys == {"KERNEL==": "dune", "SUBSYSTEM==": "misc", "GROUP=": "dune", "MODE=": "0660"}, keys


def test_sysusers_entry_creates_the_group():
    entries = [ln.split() for ln in (KMOD / "udev/dune.sysusers").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    assert entries == [["g", "dune", "-", "-"]]


def test_install_sh_stages_rule_and_sysusers(tmp_path):
    if not shutil.which("sh"):
        pytest.skip("needs sh")
    r = subprocess.run(["sh", str(KMOD / "udev/install.sh")], env={**os.environ, "DESTDIR": str(tmp_path)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    staged = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert staged == ["lib/udev/rules.d/60-dune.rules", "usr/lib/sysusers.d/dune.conf"]
    assert (tmp_path / "lib/udev/rules.d/60-dune.rules").read_bytes() == (KMOD / "udev/60-dune.rules").read_bytes()
    assert oct((tmp_path / "lib/udev/rules.d/60-dune.rules").stat().st_mode & 0o777) == "0o644"


def test_dkms_runs_install_sh_after_install():
    conf = (KMOD / "dkms.conf").read_text()
    m = re.search(r'^POST_INSTALL="([^"]+)"$', conf, re.M)
    assert m, conf
    script = KMOD / m.group(1)
    assert script.is_file() and os.access(script, os.X_OK)
