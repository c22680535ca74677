"""The Vagrantfile's settings come from dunelab.vagrant: the driver decision per host, the knobs, and
the box bookkeeping around `vagrant box list` and libvirt's pool."""

from __future__ import annotations

import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from dunelab import vagrant
from dunelab.errors import DunelabError, HostError
from dunelab.hostinfo import HostInfo

from ..conftest import PROJECT_ROOT


def host(vendor="GenuineIntel", kvm=True, module="kvm_intel", nested=True) -> HostInfo:
    return HostInfo(cpu_vendor=vendor, cpu_flags=frozenset(), kvm_device=kvm, kvm_module=module,
                    kvm_intel_nested=nested)


@pytest.mark.parametrize(("h", "driver", "cpu", "nested", "why"), [
    (host(), "kvm", "host-passthrough", True, "kvm_intel with nested VMX"),
    (host(nested=False), "qemu", "host-model", False, "nested VMX is off"),
    (host(vendor="AuthenticAMD", module="kvm_amd", nested=False), "qemu", "host-model", False, "kvm_amd's"),
    (host(vendor="AuthenticAMD", module="kvm_pvm", nested=False), "qemu", "host-model", False, "kvm_pvm's"),
    (host(kvm=False, module=None, nested=False), "qemu", "host-model", False, "no /dev/kvm"),
])
def test_driver_choice(h, driver, cpu, nested, why):
    d, c, n, w = vagrant.choose_driver(h)
    assert (d, c, n) == (driver, cpu, nested) and why in w
    if d == "qemu":
        assert "TCG" in w and "no VMX" in w      # libvirt refuses host-passthrough without KVM


def test_driver_override():
    amd = host(vendor="AuthenticAMD", module="kvm_amd", nested=False)
    assert vagrant.choose_driver(amd, "kvm")[:3] == ("kvm", "host-passthrough", False)
    assert vagrant.choose_driver(host(), "qemu")[:3] == ("qemu", "host-model", False)
    with pytest.raises(HostError, match="no /dev/kvm"):
        vagrant.choose_driver(host(kvm=False, module=None), "kvm")
    with pytest.raises(DunelabError, match="one of kvm, qemu"):
        vagrant.choose_driver(host(), "xen")


def test_settings_follow_the_driver_and_the_environment():
    s = vagrant.settings(host(), env={})
    assert (s.box, s.driver, s.guest_vmx, s.clock, s.cpus, s.memory_mb) == ("dunelab/bookworm", "kvm", True,
                                                                            "hardware", 2, 1024)
    s = vagrant.settings(host(kvm=False, module=None), env={"DUNELAB_VAGRANT_CPUS": "1",
                                                            "DUNELAB_VAGRANT_MEMORY": "2048"})
    assert (s.driver, s.guest_vmx, s.clock, s.cpus, s.memory_mb) == ("qemu", False, "emulated", 1, 2048)
    assert s.recipe == "images/bookworm.yaml" and s.dunelab.endswith("/.venv/bin/dunelab")
    with pytest.raises(DunelabError, match="DUNELAB_VAGRANT_MEMORY='lots'"):
        vagrant.settings(host(), env={"DUNELAB_VAGRANT_MEMORY": "lots"})


def test_the_vagrantfile_reads_only_settings_that_exist():
    text = (PROJECT_ROOT / "Vagrantfile").read_text()
    used = set(re.findall(r'SETTINGS\["(\w+)"\]', text))
    assert used and used <= set(vagrant.settings(host(), env={}).to_json())
    # provisioning is dunelab's own Fabric path, not a second shell recipe
    assert 'config.vm.provision "dunelab", type: "dunelab"' in text and '"shell"' not in text
    assert '"run", "--hosts"' in text


@pytest.mark.skipif(not shutil.which("ruby"), reason="ruby (comes with vagrant) is not installed")
def test_the_vagrantfile_is_valid_ruby():
    r = subprocess.run(["ruby", "-c", str(PROJECT_ROOT / "Vagrantfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_box_versions_parses_machine_readable_output(monkeypatch):
    out = ("1,,box-name,dunelab/bookworm\n1,,box-provider,libvirt\n1,,box-version,0.20261129065451\n"
           "1,,box-info,\n1,,box-name,debian/bookworm64\n1,,box-provider,libvirt\n1,,box-version,12.1\n"
           "1,,box-name,dunelab/bookworm\n1,,box-provider,virtualbox\n1,,box-version,0.1\n"
           "1,,box-name,dunelab/bookworm\n1,,box-provider,libvirt\n1,,box-version,0.20261129070535\n")
    monkeypatch.setattr(vagrant, "_vagrant", lambda *a, **k: SimpleNamespace(stdout=out, returncode=0))
    assert vagrant.box_versions("dunelab/bookworm") == ["0.20261129065451", "0.20261129070535"]


def test_pool_volume_names():
    v = vagrant.box_volume("dunelab/bookworm", "0.20261129070535")
    assert v == "dunelab-VAGRANTSLASH-bookworm_vagrant_box_image_0.20261129070535_box.img"
    assert vagrant.is_box_volume(f"default/{v}") and not vagrant.is_box_volume("default/fleet_default.img")


def test_prune_keeps_versions_vagrant_refuses_and_volumes_in_use(monkeypatch):
    calls = []
    versions = ["0.1", "0.2", "0.3"]

    def fake_vagrant(*args, **kw):
        calls.append(args)
        if args[:2] == ("box", "list"):
            return SimpleNamespace(stdout="".join(f"1,,box-name,dunelab/x\n1,,box-provider,libvirt\n"
                                                  f"1,,box-version,{v}\n" for v in versions), returncode=0)
        return SimpleNamespace(returncode=1 if "0.1" in args else 0, stdout="", stderr="in use")

    vol = {v: vagrant.box_volume("dunelab/x", v) for v in versions}

    def fake_virsh(*args):
        if args[0] == "pool-list":
            return ["default"]
        if args[0] == "vol-list":
            return [f"{vol[v]} /pool/{vol[v]}" for v in versions] + ["m.img /pool/m.img"]
        if args[0] == "vol-dumpxml" and args[-1] == "m.img":
            return [f"<backingStore>  <path>/pool/{vol['0.2']}</path>"]
        return []

    deleted = []
    monkeypatch.setattr(vagrant, "_vagrant", fake_vagrant)
    monkeypatch.setattr(vagrant, "_virsh", fake_virsh)
    monkeypatch.setattr(vagrant, "_virsh_ok", lambda *a: deleted.append(a[-1]) or True)
    gone = vagrant.prune_boxes("dunelab/x", keep="0.3")
    assert gone == ["box dunelab/x 0.2"]                       # 0.1: vagrant refused; 0.2's volume backs m.img
    assert deleted == [] and ("box", "remove", "dunelab/x", "--provider", "libvirt", "--box-version", "0.3") \
        not in calls
