"""testinfra checks of the guest, over the lab's own pinned SSH connection."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def host(running_lab):
    return running_lab.lab.channel().testinfra_host()


def test_sshd_listens_on_22(host):
    assert host.socket("tcp://0.0.0.0:22").is_listening or host.socket("tcp://:::22").is_listening


def test_root_login_is_key_only(host):
    keys = host.file("/root/.ssh/authorized_keys")
    assert keys.exists and keys.mode & 0o077 == 0
    assert "dunelab-" in keys.content_string


def test_kernel_modules_for_this_kernel(host):
    release = host.check_output("uname -r")
    assert host.file(f"/lib/modules/{release}/modules.dep").exists
    assert host.run("modprobe -n -v e1000").rc == 0


def test_guest_network_reaches_host_gateway(host):
    assert "10.0.2.15" in host.check_output("ip -4 addr show")
    assert "default via 10.0.2.2" in host.check_output("ip route")


def test_no_other_hypervisor_holds_vmx(host):
    # Dune needs VMX for itself: kvm_intel must not be loaded in the lab guest.
    assert "kvm_intel" not in host.check_output("cat /proc/modules")
