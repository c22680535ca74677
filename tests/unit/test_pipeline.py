"""`lab run` asks the image builder once: stage up boots the image stage image built.

Lab.up runs for real up to the emulator: the builder, the host probe, the qcow2 overlay, the
emulator process and the wait for SSH are faked, so nothing is built, started or killed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dunelab import hostinfo, images, pipeline, vmproc
from dunelab.images import BuildResult, Image
from dunelab.lab import Lab
from dunelab.labdef import load_lab

MESSAGE = "image bookworm is up to date (key cafe)"


@pytest.fixture
def builds(tmp_path, tmp_home, monkeypatch) -> list[Path]:
    """Fake the image builder and the boot (qemu-tcg); returns the recipes build_image is asked for."""
    monkeypatch.setenv("DUNELAB_RESULTS", str(tmp_path / "results"))
    img = tmp_path / "image"
    img.mkdir()
    for f in ("vmlinuz", "initrd.img", "disk.qcow2", "manifest.json"):
        (img / f).write_bytes(b"\0" * 4)
    image = Image(name="bookworm", key="cafe", dir=img, kernel=img / "vmlinuz", initrd=img / "initrd.img",
                  disk=img / "disk.qcow2", rootfs=tmp_path / "rootfs", kernel_release="6.1.0-56-amd64",
                  manifest=img / "manifest.json")
    asked: list[Path] = []

    def build_image(recipe, force=False):
        asked.append(recipe.path)
        return BuildResult(image, False, MESSAGE)

    monkeypatch.setattr(images, "build_image", build_image)
    tools = {t: f"/usr/bin/{t}" for t in ("qemu-system-x86_64", "qemu-img")}
    monkeypatch.setattr(hostinfo, "probe", lambda *a, **k: hostinfo.HostInfo(
        cpu_vendor="GenuineIntel", cpu_flags=frozenset(), kvm_device=False, kvm_module=None,
        kvm_intel_nested=False, tools=tools))
    monkeypatch.setattr(Lab, "_overlay", lambda self, base: self.dir / "disk.qcow2")
    # A pid above the kernel's PID_MAX_LIMIT: never a live process; killing is refused outright.
    monkeypatch.setattr(vmproc, "spawn", lambda argv, log, cwd, env=None: (None, vmproc.ProcessRef(4_194_305, -1)))
    monkeypatch.setattr(Lab, "_wait_for_ssh", lambda self, ref, popen, emu_log, started, watch=None: None)

    def no_kill(*a, **k):
        raise AssertionError("nothing may be killed here")

    monkeypatch.setattr(vmproc, "kill", no_kill)
    return asked


@pytest.fixture
def spec(write_yaml):
    return load_lab(write_yaml("lab.yaml", "name: pipe\nbackend: qemu-tcg\n"))


def test_lab_run_builds_the_image_once(builds, spec, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "LAB_RUN_STAGES", [s for s in pipeline.LAB_RUN_STAGES if s[0] in ("image", "up")])
    out_dir, ok = pipeline.run_lab(spec, keep_up=True)   # keep_up: no `down`, so nothing to kill
    assert ok
    assert builds == [spec.image]
    results = json.loads((out_dir / "results.json").read_text())
    assert [(s["name"], s["status"]) for s in results["stages"]] == [("image", "ok"), ("up", "ok")]
    assert results["env"]["backend"] == "qemu-tcg" and results["env"]["clock"] == "emulated"
    assert results["env"]["image_key"] == "cafe"
    assert (out_dir / "report.html").is_file() and (out_dir / "report.md").is_file()
    assert json.loads(Lab(spec).state_file.read_text())["image_key"] == "cafe"   # up booted the stage's image
    assert capsys.readouterr().err.count(MESSAGE) == 1


def test_up_alone_builds_the_image_itself(builds, spec, capsys):
    r = Lab(spec).up()
    assert r.backend == "qemu-tcg" and not r.already_up
    assert builds == [spec.image]
    assert json.loads(Lab(spec).state_file.read_text())["image_key"] == "cafe"
    assert capsys.readouterr().err.count(MESSAGE) == 1


def test_a_failing_stage_still_writes_results_and_report(builds, spec, monkeypatch):
    def broken(ctx):
        raise pipeline.DunelabError("the guest should have VMX and EPT but shows 0/2 CPUs with vmx")

    monkeypatch.setattr(pipeline, "LAB_RUN_STAGES", [("image", pipeline.stage_image), ("up", pipeline.stage_up),
                                                     ("check-vmx", broken),
                                                     ("scenarios", lambda ctx: pytest.fail("ran after a failure"))])
    out_dir, ok = pipeline.run_lab(spec, keep_up=True)
    assert not ok
    results = json.loads((out_dir / "results.json").read_text())
    assert [(s["name"], s["status"]) for s in results["stages"]] == [("image", "ok"), ("up", "ok"),
                                                                      ("check-vmx", "failed")]
    assert results["success"] is False
    assert "0/2 CPUs with vmx" in (out_dir / "report.md").read_text()


def test_stage_tables():
    assert [n for n, _ in pipeline.LAB_RUN_STAGES] == ["image", "up", "check-vmx", "build", "install-dune",
                                                       "install-scenarios", "scenarios"]
    assert [n for n, _ in pipeline.RUN_STAGES] == ["attach", "check-vmx", "build", "install-dune",
                                                   "install-scenarios", "scenarios"]


def test_console_record_of_a_restored_guest_starts_with_its_first_boot(tmp_path, tmp_home):
    lab = Lab(load_lab("default"))
    lab.dir.mkdir(parents=True)
    state = tmp_path / "bochs-state-x"
    state.mkdir()
    (state / "console.log").write_text("Linux version 6.1.0\ndunelab: waiting for the seed\n")

    class Saved:
        dir = state

    lab.console_log.write_text("dunelab: seed received\ndunelab: sshd up\n")
    lab._keep_first_boot_console(Saved)
    text = lab.console_record(tmp_path / "a.log").read_text()
    assert text.index("Linux version") < text.index("restored") < text.index("seed received")
    lab._keep_first_boot_console(None)          # a cold boot: its own console only
    assert lab.console_record(tmp_path / "b.log").read_text() == lab.console_log.read_text()
