"""A lab: one VM described by a LabSpec, its state directory, and the up / down / status life cycle.

`up` records the emulator's identity in state.json the moment it starts, so `down`, a Ctrl-C or an
exception in the CLI can always kill exactly that process group; a VM that does not answer SSH in
time is killed and its console log kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import backends, hostinfo, paths, vmproc
from .bootphases import BootWatch
from .channel import Channel, Endpoint, HostKeyMismatch, pick_free_port, port_is_free
from .errors import DunelabError, HostError, StepError
from .labdef import LabSpec
from .progress import info, step
from .sshkeys import ensure_keypair, known_hosts_line

if TYPE_CHECKING:
    from .images import Image

SSH_READY_MARK = "dunelab: sshd up"
# Console lines that mean the guest will never answer: fail at once instead of waiting out the timeout.
FATAL_CONSOLE = re.compile(r"Kernel panic - not syncing|Attempted to kill init|dunelab: init failed")


@dataclass(frozen=True)
class UpResult:
    backend: str
    why: str
    ssh_port: int
    boot_seconds: float
    already_up: bool = False


class Lab:
    def __init__(self, spec: LabSpec):
        self.spec = spec
        self.dir = paths.lab_dir(spec.name)
        self.state_file = self.dir / "state.json"
        self.console_log = self.dir / "console.log"
        self._channel: Channel | None = None

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise DunelabError(f"{self.state_file} is unreadable ({e}); remove it after checking no VM runs") from None

    def _save_state(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_file)

    def running(self) -> dict | None:
        """The state of a live VM, or None (a stale state file from a dead VM counts as down)."""
        st = self.state()
        if st and vmproc.alive(vmproc.ProcessRef.from_json(st["process"])):
            return st
        return None

    # ---- up ----------------------------------------------------------------------------------
    def up(self, backend_override: str | None = None, image: Image | None = None) -> UpResult:
        """Boot the lab until SSH answers. `image` is the spec's image when the caller has just built
        it (`lab run`); without it, up builds (or finds in the cache) the image itself."""
        spec = self.spec
        live = self.running()
        if live and "boot_seconds" not in live:
            raise DunelabError(f"lab {spec.name} is still booting in another dunelab process "
                               f"({live['backend']} pid {live['process']['pid']})")
        if live:
            return UpResult(live["backend"], "already running", live["ssh_port"], live.get("boot_seconds", 0.0),
                            already_up=True)
        host = hostinfo.probe()
        name, why = hostinfo.choose_backend(backend_override or spec.backend, host)
        backend = backends.get(name)
        backend.check_host(host)
        backend.prepare_host()
        port = self._ssh_port()

        # Imported here: the image builder pulls in debootstrap logic the other commands never need.
        from .images import boot_initrd, write_seed_cpio

        if image is None:
            image = self._build_image()

        self.dir.mkdir(parents=True, exist_ok=True)
        client_key = ensure_keypair(self.dir / "id_ed25519", f"dunelab-{spec.name}-client")
        host_key = ensure_keypair(self.dir / "ssh_host_ed25519_key", f"dunelab-{spec.name}-host")
        (self.dir / "known_hosts").write_text(known_hosts_line("127.0.0.1", port, host_key))
        endpoint = self._endpoint(port)
        (self.dir / "ssh_config").write_text(endpoint.ssh_config(self.ssh_alias))

        method = self._boot_method(name, image)
        saved = self._saved_state(image, backend) if method == "restore" else None
        seed_port = None
        with step(f"preparing {name} boot media") as s:
            seed = write_seed_cpio(self.dir / "seed.cpio", client_key.public_line + "\n",
                                   host_key.private, host_key.public, hostname=f"dunelab-{spec.name}")
            if saved is not None:
                from .backends import bochs_state

                seed_port = pick_free_port()
                restore = bochs_state.prepare_restore(saved, self.dir, image.rawdisk)
                media = backends.BootMedia(kernel=image.kernel, initrd=image.initrd, restore=restore,
                                           seed_port=seed_port)
            elif backend.image_form == "disk":
                initrd = boot_initrd(image, seed, self.dir / "initrd.img")
                media = backends.BootMedia(kernel=image.kernel, initrd=initrd, disk=self._overlay(image.disk))
            else:
                initrd = boot_initrd(image, seed, self.dir / "initrd.img")
                s.update(f"{method} boot media")
                media = bochs_media(image, method, backend.cmdline(spec), initrd, self.dir)
            plan = backend.plan(spec, media, port, self.dir)
            for f, text in plan.files.items():
                f.write_text(text)

        self._rotate_console()
        self._keep_first_boot_console(saved)
        emu_log = self.dir / f"{name}.log"
        popen, ref = vmproc.spawn(plan.argv, emu_log, cwd=self.dir, env=plan.env)
        started = time.time()
        watch = BootWatch(self.console_log, ref.pid, started)
        self._save_state({
            "lab": spec.name, "backend": name, "why": why, "process": ref.to_json(), "ssh_port": port,
            "started_at": started, "image_key": image.key, "image_manifest": str(image.manifest),
            "kernel_release": image.kernel_release, "boot_method": method,
            "saved_state": str(saved.dir) if saved else None,
            "guest_has_vmx": backend.guest_has_vmx, "console_log": str(self.console_log),
            "lab_file": str(spec.source), "argv": plan.argv,
        })
        try:
            if seed_port is not None:
                from .backends import bochs_state

                with step(f"restoring {spec.name} and sending its seed"):
                    bochs_state.send_seed(seed_port, bochs_state.seed_message(seed.read_bytes()),
                                          lambda: vmproc.alive(ref), spec.boot_timeout)
                self._wait_for_ssh(ref, popen, emu_log, started, watch, ready=True)
            else:
                self._wait_for_ssh(ref, popen, emu_log, started, watch)
        except BaseException:
            # Ctrl-C, a timeout or any error: never leave the emulator behind.
            vmproc.kill(ref, popen=popen)
            self._clear_state()
            raise
        boot = time.time() - started
        st = self.state() or {}
        st["boot_seconds"] = round(boot, 1)
        self._save_state(st)
        watch.poll()
        self._record_boot(name, method, boot, image.key, started, watch.record())
        return UpResult(name, why, port, boot)

    def _boot_method(self, backend: str, image: Image) -> str:
        """How this boot starts; the same word goes into boots.jsonl. QEMU: `direct` (-kernel/-initrd).
        Bochs: the lab's bochs.boot, `direct` (vmlinuz-direct: no decompressor), `iso` or `restore`."""
        if backend != "bochs":
            return "direct"
        if image.rawdisk is None or image.kernel_direct is None:
            raise DunelabError(f"image {image.dir} has no raw disk or direct-boot kernel (built by an older "
                               "dunelab): `dunelab image build --force`")
        return self.spec.bochs_boot

    def _saved_state(self, image: Image, backend):
        """The Bochs saved state of this image and machine, made now if there is none yet."""
        from .backends import bochs_state

        cmdline = backend.cmdline(self.spec, bochs_state.SEED_ARG)
        ident = bochs_state.bochs_identity()
        key = bochs_state.state_key(image.key, bochs_state.machine(self.spec, cmdline), ident)
        saved = bochs_state.find(image, key)
        if saved is None:
            def media(work: Path) -> backends.BootMedia:
                return bochs_media(image, bochs_state.BUILD_BOOT, cmdline, image.initrd, work)

            saved = bochs_state.build(image, self.spec, backend, cmdline, media, key, ident, self.spec.boot_timeout)
            info(f"saved Bochs state {saved.dir.name}: first boot {saved.manifest['boot_seconds']}s, "
                 f"save {saved.manifest['save_seconds']}s")
            self._record_boot("bochs", "cold-for-state", saved.manifest["boot_seconds"], image.key, time.time())
        return saved

    def _record_boot(self, backend: str, method: str, seconds: float, image_key: str, at: float,
                     extra: dict | None = None) -> None:
        """One boots.jsonl row; `extra`: the BootWatch fields (load, phases, emulator CPU seconds)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        row = {"backend": backend, "method": method, "cpus": self.spec.cpus, "boot_seconds": round(seconds, 1),
               "image_key": image_key, "at": at, **(extra or {})}
        with open(self.dir / "boots.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def _build_image(self) -> Image:
        from .images import build_image, load_recipe

        built = build_image(load_recipe(self.spec.image))
        info(built.message)
        return built.image

    def _ssh_port(self) -> int:
        if self.spec.ssh_port == 0:
            return pick_free_port()
        if not port_is_free(self.spec.ssh_port):
            raise HostError(f"SSH port {self.spec.ssh_port} is already in use on this host "
                            f"({self.spec.source}: ssh.port); free it or choose another port (0 picks one)")
        return self.spec.ssh_port

    def _overlay(self, base: Path) -> Path:
        """A fresh copy-on-write layer per boot: the cached base image is never written."""
        overlay = self.dir / "disk.qcow2"
        overlay.unlink(missing_ok=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(overlay)],
                       check=True, capture_output=True)
        return overlay

    def _keep_first_boot_console(self, saved) -> None:
        """A restored guest's console starts where its state was saved; keep the console of the
        state's first boot (the kernel's and init's lines) beside it for console_record()."""
        boot = self.dir / "console.first-boot.log"
        boot.unlink(missing_ok=True)
        if saved is not None and (saved.dir / "console.log").is_file():
            shutil.copyfile(saved.dir / "console.log", boot)

    def console_record(self, dest: Path) -> Path:
        """The guest's whole console into `dest`: for a restored guest the first boot of its saved
        state, a line naming the restore, then this boot's console; otherwise this boot's console."""
        boot = self.dir / "console.first-boot.log"
        with open(dest, "wb") as out:
            if boot.is_file():
                out.write(boot.read_bytes())
                out.write(b"\n--- dunelab: the machine was saved here (Bochs saved state) and restored for this "
                          b"lab; its console continues below ---\n")
            if self.console_log.is_file():
                out.write(self.console_log.read_bytes())
        return dest

    def _rotate_console(self) -> None:
        if self.console_log.exists():
            os.replace(self.console_log, self.console_log.with_suffix(".log.prev"))
        self.console_log.touch()

    def _wait_for_ssh(self, ref: vmproc.ProcessRef, popen, emu_log: Path, started: float,
                      watch: BootWatch | None = None, ready: bool = False) -> None:
        """Poll until SSH answers; `ready`: the guest already said sshd is up (restored guests)."""
        chan = self.channel()
        deadline = started + self.spec.boot_timeout
        with step(f"booting {self.spec.name} until SSH answers") as s:
            last_try = 0.0
            while True:
                console = _tail(self.console_log)
                if watch is not None:
                    watch.poll()
                if not vmproc.alive(ref):
                    raise StepError("boot", f"the emulator exited (code {popen.poll()}); "
                                    f"its log: {emu_log}", self.console_log)
                fatal = FATAL_CONSOLE.search(console)
                if fatal:
                    raise StepError("boot", f"the guest reported '{fatal.group(0)}'", self.console_log)
                now = time.time()
                if now > deadline:
                    raise StepError("boot", f"no SSH answer within {self.spec.boot_timeout}s "
                                    f"(lab timeouts.boot)", self.console_log)
                last_line = console.strip().splitlines()[-1][-70:] if console.strip() else "starting"
                s.update(f"{now - started:5.0f}s  {last_line}")
                # Slirp accepts TCP long before the guest listens and replays the attempts into a NIC
                # the guest has not set up yet (Bochs' e1000 logs "Null RX descriptor" floods), so
                # only try SSH once sshd said so; images that do not print the mark are tried every
                # 20 s in the second half of the boot timeout.
                late = now - started > self.spec.boot_timeout / 2
                if ready or SSH_READY_MARK in console or (late and now - last_try > 20):
                    last_try = now
                    try:
                        if chan.try_connect() is None:
                            return
                    except HostKeyMismatch as e:
                        raise StepError("ssh", f"host key mismatch: {e}", self.console_log) from None
                time.sleep(1.0)

    # ---- channel -----------------------------------------------------------------------------
    @property
    def ssh_alias(self) -> str:
        return f"dunelab-{self.spec.name}"

    def _endpoint(self, port: int) -> Endpoint:
        return Endpoint("127.0.0.1", port, self.spec.ssh_user, self.dir / "id_ed25519", self.dir / "known_hosts")

    def channel(self) -> Channel:
        st = self.state()
        if st is None:
            raise DunelabError(f"lab {self.spec.name} is not up (run `dunelab up`)")
        if self._channel is None or self._channel.endpoint.port != st["ssh_port"]:
            self._channel = Channel(self._endpoint(st["ssh_port"]))
        return self._channel

    def require_up(self) -> dict:
        st = self.running()
        if st is None:
            raise DunelabError(f"lab {self.spec.name} is not up (run `dunelab up --lab {self.spec.source}`)")
        return st

    # ---- down --------------------------------------------------------------------------------
    def down(self) -> str:
        st = self.state()
        if st is None:
            return f"lab {self.spec.name} is not up"
        if self._channel is not None:
            self._channel.close()
        ref = vmproc.ProcessRef.from_json(st["process"])
        was_alive = vmproc.alive(ref)
        if was_alive and st.get("backend") != "bochs":
            _qmp_quit(self.dir / "qmp.sock")
        vmproc.kill(ref, grace=self.spec.shutdown_timeout)
        if vmproc.alive(ref):
            raise DunelabError(f"could not stop {st['backend']} (pid {ref.pid})")
        # A stopped emulator's leader can be a zombie while its other threads still hold its sockets:
        # a `down` followed at once by an `up` on the same fixed port must find the port free.
        deadline = time.monotonic() + 10
        while was_alive and not port_is_free(st["ssh_port"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._clear_state()
        return (f"lab {self.spec.name} is down ({st['backend']} pid {ref.pid} stopped)" if was_alive
                else f"lab {self.spec.name} was already down (cleared stale state)")

    def _clear_state(self) -> None:
        self.state_file.unlink(missing_ok=True)
        (self.dir / "qmp.sock").unlink(missing_ok=True)

    def status(self) -> dict:
        st = self.state()
        if st is None:
            return {"lab": self.spec.name, "state": "down"}
        ref = vmproc.ProcessRef.from_json(st["process"])
        if not vmproc.alive(ref):
            return {"lab": self.spec.name, "state": "down (stale state: the VM exited)",
                    "console_log": st.get("console_log")}
        return {"lab": self.spec.name, "state": "up", "backend": st["backend"], "pid": ref.pid,
                "ssh": f"127.0.0.1:{st['ssh_port']}", "uptime_s": round(time.time() - st["started_at"]),
                "boot_seconds": st.get("boot_seconds"), "boot_method": st.get("boot_method"),
                # host CPU seconds the emulator has used: sample twice for an idle guest's cost
                "emulator_cpu_s": round(vmproc.cpu_seconds(ref.pid), 1),
                "guest_has_vmx": st.get("guest_has_vmx"),
                "kernel": st.get("kernel_release"), "console_log": st.get("console_log")}

    def boot_history(self) -> list[dict]:
        """Every recorded boot of this lab (boots.jsonl), oldest first; unreadable lines are skipped."""
        try:
            lines = (self.dir / "boots.jsonl").read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "backend" in row and "boot_seconds" in row:
                out.append(row)
        return out

    def booted_image(self):
        """The image the running guest booted (the recipe may have changed since)."""
        from .images import Image

        st = self.require_up()
        manifest = Path(st["image_manifest"])
        if not manifest.exists():
            raise DunelabError(f"the image lab {self.spec.name} booted ({manifest.parent}) is gone from the cache: "
                               "`dunelab down` and `dunelab up`")
        return Image.from_manifest(manifest)

    def ssh_argv(self, command: list[str] | None = None) -> list[str]:
        self.require_up()
        ssh = shutil.which("ssh")
        if not ssh:
            raise HostError("ssh is not installed (apt-get install openssh-client)")
        return [ssh, "-F", str(self.dir / "ssh_config"), self.ssh_alias, *(command or [])]


def bochs_media(image: Image, method: str, cmdline: str, initrd: Path, work: Path) -> backends.BootMedia:
    """Bochs boot media in `work`: an isolinux ISO with the image's vmlinuz-direct (`direct`: no
    decompressor at emulated speed) or its distribution vmlinuz (`iso`)."""
    from .images import make_iso

    kernels = {"direct": image.kernel_direct, "iso": image.kernel}
    if kernels.get(method) is None:
        raise ValueError(f"no Bochs boot media for method {method!r}")
    iso = make_iso(kernels[method], initrd, cmdline, work / "boot.iso")
    return backends.BootMedia(kernel=kernels[method], initrd=initrd, iso=iso, rawdisk=image.rawdisk)


def _tail(path: Path, size: int = 16384) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _qmp_quit(sock: Path) -> None:
    """Ask QEMU to quit over QMP; errors are fine, the caller kills the process group anyway."""
    if not sock.exists():
        return
    try:
        import asyncio

        from qemu.qmp import QMPClient

        async def quit_() -> None:
            qmp = QMPClient("dunelab")
            await asyncio.wait_for(qmp.connect(str(sock)), 5)
            try:
                await asyncio.wait_for(qmp.execute("quit"), 5)
            finally:
                await qmp.disconnect()

        asyncio.run(quit_())
    except Exception:
        pass
