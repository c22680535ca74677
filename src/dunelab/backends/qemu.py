"""QEMU backends: KVM with nested VMX on Intel hosts (the fast path), TCG everywhere (no VMX).

Both boot the disk form: our initramfs mounts the per-lab qcow2 overlay and switches into systemd.
QEMU is driven over QMP (a unix socket in the lab's state directory) for a clean power-off.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HostError
from ..hostinfo import HostInfo
from ..labdef import LabSpec
from .base import Backend, BootMedia, BootPlan


class _QemuBackend(Backend):
    image_form = "disk"
    accel_args: tuple[str, ...] = ()

    def check_host(self, info: HostInfo) -> None:
        if not info.tools.get("qemu-system-x86_64"):
            raise HostError("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
        if not info.tools.get("qemu-img"):
            raise HostError("qemu-img is not installed (apt-get install qemu-utils)")

    def plan(self, spec: LabSpec, media: BootMedia, ssh_port: int, state_dir: Path) -> BootPlan:
        if media.disk is None:
            raise ValueError("QEMU backends boot the disk form")
        console = state_dir / "console.log"
        argv = [
            "qemu-system-x86_64", *self.accel_args,
            "-smp", str(spec.cpus), "-m", str(spec.memory_mb),
            "-display", "none", "-monitor", "none", "-no-reboot",
            "-serial", f"file:{console}",
            "-qmp", f"unix:{state_dir / 'qmp.sock'},server=on,wait=off",
            "-kernel", str(media.kernel), "-initrd", str(media.initrd),
            "-append", self.cmdline(spec, "dunelab.root=/dev/vda"),
            "-drive", f"file={media.disk},if=virtio,format=qcow2,cache=unsafe",
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
            "-device", "virtio-net-pci,netdev=net0",
            *spec.qemu_extra_args,
        ]
        return BootPlan(argv=argv, console_log=console)


class QemuKvmBackend(_QemuBackend):
    """Hardware VT-x: -cpu host passes vmx through when kvm_intel runs with nested=1."""

    name = "qemu-kvm"
    guest_has_vmx = True
    clock = "hardware"
    accel_args = ("-accel", "kvm", "-cpu", "host")

    def check_host(self, info: HostInfo) -> None:
        super().check_host(info)
        if not info.kvm_device:
            raise HostError("qemu-kvm needs /dev/kvm, which this host does not have")
        if info.kvm_module != "kvm_intel":
            raise HostError(f"qemu-kvm needs /dev/kvm from kvm_intel; this host's is {info.kvm_module or 'unknown'}"
                            " (Dune needs VT-x: use the bochs backend)")
        if not info.kvm_intel_nested:
            raise HostError("kvm_intel's nested VMX is off: `modprobe -r kvm_intel && modprobe kvm_intel nested=1`")


class QemuTcgBackend(_QemuBackend):
    """Pure emulation: fast enough for the rig's tests and Linux baselines; -cpu max shows svm, never vmx."""

    name = "qemu-tcg"
    guest_has_vmx = False
    clock = "emulated"
    # One host thread runs all vCPUs. Multi-threaded TCG froze tcg-kvm's guest (both vCPUs busy, silent
    # console) in 2 of about 10 runs, once with both vCPUs on an int3 of kernel text being patched;
    # single-threaded: 6 of 6 clean, and faster here (90 s against ~150 s for the same rows).
    accel_args = ("-accel", "tcg,thread=single", "-cpu", "max")
