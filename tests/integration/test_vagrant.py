"""The project's own box under Vagrant + libvirt, end to end through the real commands:

  `dunelab image box`               builds the box (bootable, vagrant user, DHCP, the image's kernel), adds it;
  `vagrant up --provider=libvirt`   boots it (TCG here, KVM + nested VMX on Intel hosts), and the
                                    Vagrantfile's dunelab provisioner installs Dune and runs the scenarios;
  checks over the machine's SSH     the guest is what the box promises, provisioning left dune.ko and libdune;
  `vagrant destroy -f`              leaves no domain, network, volume or process behind (the box's
                                    copy in the storage pool is vagrant-libvirt's box cache, and goes
                                    too if this test brought it).

Needs scripts/vagrant-host; skips with the reason where vagrant or libvirtd is missing, unless
DUNELAB_REQUIRE_VAGRANT=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from dunelab import vagrant
from dunelab.nightly import vagrant_usable
from dunelab.records import PASSED, SKIPPED, RunRecord

from ..conftest import PROJECT_ROOT
from .conftest import dunelab_cli

pytestmark = [pytest.mark.vm, pytest.mark.vagrant]
PREFIX = "dunelab-itest-"


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    why = vagrant_usable()
    if why:
        if os.environ.get("DUNELAB_REQUIRE_VAGRANT") == "1":
            pytest.fail(f"DUNELAB_REQUIRE_VAGRANT=1 but {why}")
        pytest.skip(why)
    d = tmp_path_factory.mktemp("vagrant")
    # The CI run is bounded: every Dune row (skipped with its reason under TCG) and trap's Linux rows;
    # nightly runs every scenario through the same Vagrantfile.
    env = {**os.environ, "VAGRANT_DOTFILE_PATH": str(d / "dot"), "DUNELAB_VAGRANT_PREFIX": PREFIX,
           "DUNELAB_RESULTS_DIR": str(d / "results"), "VAGRANT_NO_COLOR": "1", "COLUMNS": "200",
           "DUNELAB_RUN": os.environ.get("DUNELAB_VAGRANT_TEST_RUN", "selftest hostile trap")}
    timings: dict[str, float] = {}
    before = vagrant.libvirt_inventory()

    t0 = time.monotonic()
    box = dunelab_cli("image", "box", timeout=3600)
    timings["image box"] = time.monotonic() - t0
    assert box.returncode == 0, box.stdout + box.stderr

    t0 = time.monotonic()
    up = subprocess.run(["vagrant", "up", "--provider=libvirt"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                        text=True, timeout=3600)
    timings["vagrant up"] = time.monotonic() - t0
    try:
        yield {"dir": d, "env": env, "up": up, "box_output": box.stdout + box.stderr, "timings": timings,
               "before": before}
    finally:
        t0 = time.monotonic()
        # normally a no-op: test_destroy_leaves_nothing_behind destroyed it already (and checked)
        subprocess.run(["vagrant", "destroy", "-f"], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=900)
        print("vagrant timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))


def test_the_box_is_a_libvirt_box_of_our_image(machine):
    from dunelab.box import Box, box_key
    from dunelab.images import build_image, load_recipe

    image = build_image(load_recipe(PROJECT_ROOT / "images" / "bookworm.yaml")).image
    entry = Path(os.environ.get("DUNELAB_HOME") or PROJECT_ROOT / ".dunelab") / "cache" / "boxes" / \
        f"{image.name}-{box_key(image)[:16]}"
    box = Box.from_dir(entry.resolve())
    with tarfile.open(box.box_file) as tar:
        names = tar.getnames()
        meta = json.load(tar.extractfile("metadata.json"))
        info = json.load(tar.extractfile("info.json"))
    assert set(names) == {"metadata.json", "Vagrantfile", "info.json", "box.img"}
    assert meta["provider"] == "libvirt" and meta["format"] == "qcow2" and meta["virtual_size"] >= 7
    assert info["image_key"] == image.key and info["kernel_release"] == image.kernel_release
    assert box.version in vagrant.box_versions(box.name)


def test_vagrant_up_provisions_and_runs_the_scenarios(machine):
    up = machine["up"]
    assert up.returncode == 0, (up.stdout + up.stderr)[-5000:]
    assert "Running provisioner: dunelab" in up.stdout
    out = machine["dir"] / "results"
    meta = json.loads((out / "fleet.json").read_text())
    assert meta["success"] and len(meta["hosts"]) == 1
    rec = RunRecord.load(out / meta["hosts"][0]["dir"])
    stages = {s.name: s for s in rec.stages}
    assert all(s.status in ("ok", "skipped") for s in rec.stages), rec.stages
    assert rec.env.backend.startswith("vagrant-libvirt/")
    if rec.env.guest_vmx:      # KVM with nested VMX: Dune runs in the guest
        assert stages["install-dune"].detail.startswith("dune.ko loaded")
        assert all(r.status == PASSED for r in rec.rows)
    else:                      # TCG: installed, refused cleanly, Dune rows skipped with the reason
        assert "No such device" in stages["install-dune"].detail
        assert rec.env.clock == "emulated"
        assert rec.rows and all(r.status in (PASSED, SKIPPED) for r in rec.rows)
        assert all("no VMX" in r.reason for r in rec.rows if r.status == SKIPPED)


@pytest.fixture(scope="module")
def guest(machine):
    """testinfra over the very connection the provisioner used (its inventory: address, key, pinned host key)."""
    from dunelab.fleet import HostChannel
    from dunelab.inventory import load_inventory

    inv = next((machine["dir"] / "dot").rglob("dunelab-inventory.yaml"))
    chan = HostChannel(load_inventory(inv).hosts[0])
    host = chan.testinfra_host()
    yield host, chan, yaml.safe_load(inv.read_text())["hosts"][0]
    chan.close()


def test_the_guest_is_what_the_box_promises(guest):
    host, chan, spec = guest
    from dunelab.images import build_image, load_recipe

    image = build_image(load_recipe(PROJECT_ROOT / "images" / "bookworm.yaml")).image
    assert spec["user"] == "vagrant"
    assert chan.run("uname -r", hide=True).stdout.strip() == image.kernel_release
    assert chan.run("id -un", hide=True).stdout.strip() == "root"            # passwordless sudo
    addr = chan.run("ip -4 -o addr show dev eth0", hide=True).stdout
    assert spec["address"] in addr and "dynamic" in addr                      # DHCP on eth0
    box = json.loads(chan.run("cat /usr/lib/dunelab/box.json", hide=True).stdout)
    assert box["image_key"] == image.key
    assert host.file("/etc/sudoers.d/vagrant").mode == 0o440
    assert "kvm_intel" not in chan.run("cat /proc/modules", hide=True).stdout


def test_provisioning_installed_dune_for_the_guests_kernel(guest):
    _, chan, _ = guest
    release = chan.run("uname -r", hide=True).stdout.strip()
    vermagic = chan.run("modinfo -F vermagic dune", hide=True).stdout.split()
    assert vermagic and vermagic[0] == release
    assert chan.run("test -f /usr/local/lib/libdune.a && test -f /usr/local/include/dune/dune.h", hide=True,
                    warn=True).exited == 0
    assert chan.run("ls /root/dune-tests/guest | wc -l", hide=True).stdout.strip() != "0"


def test_destroy_leaves_nothing_behind(machine):
    env = machine["env"]
    t0 = time.monotonic()
    d = subprocess.run(["vagrant", "destroy", "-f"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
    machine["timings"]["vagrant destroy"] = time.monotonic() - t0
    assert d.returncode == 0, d.stdout + d.stderr
    before, after = machine["before"], vagrant.libvirt_inventory()
    assert not [x for x in after["domains"] if x not in before["domains"]]
    assert not [x for x in after["networks"] if x not in before["networks"]]
    new_volumes = [x for x in after["volumes"] if x not in before["volumes"]]
    assert all(vagrant.is_box_volume(v) for v in new_volumes), new_volumes
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert PREFIX not in procs                                  # no QEMU of our domain
    assert "vagrant-libvirt.conf" not in procs or "vagrant-libvirt" in before["networks"]   # its dnsmasq
    for v in new_volumes:         # the box's copy this test brought into the pool: leave the host as found
        pool, name = v.split("/", 1)
        subprocess.run(["virsh", "-q", "-c", vagrant.LIBVIRT_URI, "vol-delete", "--pool", pool, name],
                       capture_output=True)
