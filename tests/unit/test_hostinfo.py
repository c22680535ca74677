"""Host probing and `auto` backend choice, on fake /proc and /sys trees."""

from __future__ import annotations

from pathlib import Path

from dunelab.hostinfo import choose_backend, probe


def fake_host(root: Path, vendor="GenuineIntel", flags="fpu vmx ept", kvm=True, module="kvm_intel", nested="Y"):
    (root / "proc").mkdir(parents=True)
    (root / "proc/cpuinfo").write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\n"
                                       f"processor\t: 1\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n")
    (root / "dev").mkdir()
    if kvm:
        (root / "dev/kvm").touch()
    if module:
        (root / "sys/module" / module / "parameters").mkdir(parents=True)
        (root / "sys/module" / module / "parameters/nested").write_text(nested + "\n")
    return probe(root, which=lambda t: f"/usr/bin/{t}")


def test_intel_with_nested_picks_qemu_kvm(tmp_path):
    info = fake_host(tmp_path)
    assert info.cpu_vendor == "GenuineIntel" and "vmx" in info.cpu_flags
    assert info.nested_vmx_usable
    assert choose_backend("auto", info)[0] == "qemu-kvm"


def test_intel_without_nested_picks_bochs(tmp_path):
    backend, why = choose_backend("auto", fake_host(tmp_path, nested="N"))
    assert backend == "bochs" and "nested VMX is off" in why


def test_kvm_pvm_picks_bochs(tmp_path):
    backend, why = choose_backend("auto", fake_host(tmp_path, vendor="AuthenticAMD", flags="svm", module="kvm_pvm"))
    assert backend == "bochs" and "kvm_pvm" in why


def test_no_kvm_picks_bochs(tmp_path):
    backend, why = choose_backend("auto", fake_host(tmp_path, kvm=False, module=None))
    assert backend == "bochs" and "no /dev/kvm" in why


def test_explicit_backend_wins(tmp_path):
    assert choose_backend("qemu-tcg", fake_host(tmp_path))[0] == "qemu-tcg"


def test_real_host_probe_runs():
    info = probe()
    assert info.cpu_vendor != "unknown"
    assert set(info.tools) >= {"bochs", "qemu-system-x86_64"}
