"""Bochs saved states: boot an image once, save the machine, and restore it on every `up`.

A cold Bochs boot spends minutes in the BIOS, the XZ decompressor and the kernel's init at emulated
speed. Instead, the first `up` of an image boots it with ``dunelab.seed=tcp:2323``: the guest comes
up (network configured, Debian userland mounted) and then waits, before starting sshd, for its
lab's identity on TCP port 2323. There the machine is saved (Bochs' save/restore, driven over its
VNC server, see rfb.py). Every later `up` restores that state and sends the lab's seed through a
slirp port forward -- SSH keys, hostname, the host's clock and fresh entropy (the restored kernel's
RNG is the same in every copy) -- and the guest starts sshd and answers "dunelab: sshd up".
(TCP rather than a serial port: the guest needs its network anyway, and nothing has to hold the
console UART open for reading.) The first boot loads Bochs' plugins in the order a restore does,
since Bochs restores timers by slot (PLUGIN_CTRL below).

A saved state is an entry of the content-addressed image cache, ``bochs-state-<key16>/``. Its key
covers everything the saved machine depends on: the image key (kernel, initramfs, disk, guest
scripts), the kernel command line, CPUs, memory, CPU model and ips, and the emulator itself (the
build's recipe key and the bytes of its binary and BIOS images, bochs_build.py). Restoring re-checks that the state was
made from the very artifacts (sha256) of the image the lab boots; a mismatch is an error, never a
silent reuse. The guest proves it too: /etc/dunelab/image-key holds the image key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .. import vmproc
from ..errors import DunelabError, StepError
from ..images.cache import cache_root, locked, publish
from ..images.chroot import safe_rmtree
from ..images.manifest import sha256_file
from ..progress import step
from . import bochs_build
from .rfb import RfbClient, listening_ports

FORMAT = "dunelab-bochs-state-v1"
GUEST_SEED_PORT = 2323                               # guest TCP port seed-receive listens on
SEED_ARG = f"dunelab.seed=tcp:{GUEST_SEED_PORT}"
WAITING_MARK = f"dunelab: waiting for the seed on tcp:{GUEST_SEED_PORT}"
READY = "dunelab: sshd up"
BIOS_FILES = (Path("/usr/share/bochs/BIOS-bochs-latest"), Path("/usr/share/bochs/VGABIOS-lgpl-latest"))
# The builder sources a saved state depends on besides the image (which covers the guest scripts).
SOURCES = ("bochs.py", "bochs_state.py", "rfb.py")
# Files Bochs writes into a state folder that must be there for a restore.
REQUIRED = ("config", "memory.ram", "cpu0", "pc_system", "e1000")


@dataclass(frozen=True)
class SavedState:
    dir: Path                 # the cache entry
    key: str
    manifest: dict

    @property
    def state(self) -> Path:
        return self.dir / "state"

    @property
    def boot_files(self) -> list[Path]:
        """The entry's own boot files the saved config names (its ISO)."""
        return [self.dir / n for n in ENTRY_FILES if (self.dir / n).exists()]


def bochs_identity() -> dict:
    """The emulator a state was saved with: its build recipe and the digests of it and its BIOS images."""
    binary = bochs_build.binary_path()
    ident = {"bochs_version": f"{bochs_build.VERSION}+dunelab.{bochs_build.key()[:16]}",
             "bochs": sha256_file(binary) if binary.is_file() else "missing"}
    for f in BIOS_FILES:
        ident[f.name] = sha256_file(f) if f.is_file() else "missing"
    return ident


# How a state's first boot starts the kernel (lab.bochs_media); part of the key.
BUILD_BOOT = "direct"


def machine(spec, cmdline: str) -> dict:
    """The parts of a lab that are frozen into a saved machine."""
    return {"cpus": spec.cpus, "memory_mb": spec.memory_mb, "cpu_model": spec.bochs_cpu_model,
            "ips": spec.bochs_ips, "cmdline": cmdline, "boot": BUILD_BOOT}


def state_key(image_key: str, machine_: dict, ident: dict, package_dir: Path | None = None) -> str:
    h = hashlib.sha256()
    h.update(f"{FORMAT}\0{image_key}\0".encode())
    h.update(json.dumps(machine_, sort_keys=True).encode() + b"\0")
    h.update(json.dumps(ident, sort_keys=True).encode() + b"\0")
    d = package_dir or Path(__file__).resolve().parent
    for name in SOURCES:
        data = (d / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def entry_dir(key: str) -> Path:
    return cache_root() / f"bochs-state-{key[:16]}"


def image_artifacts(image) -> dict:
    """The image's artifact digests as its manifest records them (what a state must match)."""
    m = json.loads(Path(image.manifest).read_text())
    return {name: a["sha256"] for name, a in m["artifacts"].items()}


def find(image, key: str) -> SavedState | None:
    d = entry_dir(key)
    mf = d / "manifest.json"
    if not mf.is_file():
        return None
    saved = SavedState(d, key, json.loads(mf.read_text()))
    check(saved, image)
    return saved


def check(saved: SavedState, image) -> None:
    """Refuse a state that was not saved from exactly this image (or lost a file)."""
    m = saved.manifest
    if m.get("format") != FORMAT or m.get("key") != saved.key:
        raise DunelabError(f"saved Bochs state {saved.dir} is not a {FORMAT} entry for key {saved.key[:12]}; "
                           "remove it and run `dunelab up` again")
    if m.get("image_key") != image.key or m.get("artifacts") != image_artifacts(image):
        raise DunelabError(f"saved Bochs state {saved.dir} was made from another image than {image.dir} "
                           "(kernel, initramfs or disk differ); remove it and run `dunelab up` again")
    missing = [f for f in REQUIRED if not (saved.state / f).exists()]
    if missing or not saved.boot_files:
        what = ", ".join(missing) or "its boot files"
        raise DunelabError(f"saved Bochs state {saved.dir} is incomplete (missing {what}); "
                           "remove it and run `dunelab up` again")


# ---- the seed ------------------------------------------------------------------------------------
def send_seed(port: int, message: bytes, alive, timeout: float) -> None:
    """Connect to the guest's seed port through slirp, send the seed, wait for "sshd up".
    `alive()` false means the emulator died; the guest's own failure line is reported as is."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise StepError("boot", "the emulator exited before the guest took its seed")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(message)
                conn.settimeout(1.0)
                reply = b""
                while time.monotonic() < deadline and alive():
                    try:
                        chunk = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    reply += chunk
                    text = reply.decode(errors="replace")
                    if READY in text:
                        return
                    if "seed failed" in text or "sshd failed" in text:
                        raise StepError("boot", f"the guest refused its seed: {text.strip()[-200:]}")
        except OSError:
            pass             # slirp not listening yet, or the guest reset the connection: retry
        if time.monotonic() > deadline:
            raise StepError("boot", f"the restored guest did not take its seed within {timeout:.0f}s")
        time.sleep(0.5)


def seed_message(seed_cpio: bytes, now: float | None = None, entropy: bytes | None = None) -> bytes:
    """What rc.boot's seed_from_serial reads: header lines, the seed cpio in base64, `end`."""
    now = time.time() if now is None else now
    entropy = os.urandom(64) if entropy is None else entropy
    b64 = base64.encodebytes(seed_cpio).decode()          # 76-character lines
    return (f"\ndunelab-seed 1\ntime {int(now)}\nentropy {entropy.hex()}\n"
            f"cpio {hashlib.sha256(seed_cpio).hexdigest()}\n{b64}end\n").encode()


# ---- restoring ------------------------------------------------------------------------------------
# Files of a state's build directory that become the restoring lab's own (the lab directory's files
# of the same name); the others a config may name are cache files that publish() moved into the entry.
LAB_FILES = ("console.log", "slirp.conf", "bochs.log")
LAB_FILES_OPTIONAL = ("disk.redolog",)
ENTRY_FILES = ("boot.iso",)


def restore_config(saved_config: str, build_dir: str, entry: Path, lab: dict[str, Path], rawdisk: Path) -> str:
    """The state's Bochs config with the lab's files: console, slirp script (its port forwards),
    log, disk redolog; the boot files and disk of the cache. Every path naming the build directory
    must be one we map."""
    text = saved_config
    for name, new in lab.items():                    # LAB_FILES (+ LAB_FILES_OPTIONAL)
        old = f"{build_dir}/{name}"
        if old not in text and name not in LAB_FILES_OPTIONAL:
            raise StepError("restore", f"the saved Bochs config does not name {old}; rebuild the state")
        text = text.replace(old, str(new))
    for name in ENTRY_FILES:
        text = text.replace(f"{build_dir}/{name}", str(entry / name))
    text, n = re.subn(r'(ata0-master: type=disk, path=")[^"]*(")', rf"\g<1>{rawdisk}\g<2>", text)
    if n != 1:
        raise StepError("restore", "the saved Bochs config has no ata0-master disk; rebuild the state")
    if build_dir in text:
        line = next(ln for ln in text.splitlines() if build_dir in ln)
        raise StepError("restore", f"the saved Bochs config still names the build directory: {line.strip()}")
    return text


def prepare_restore(saved: SavedState, lab_dir: Path, rawdisk: Path) -> Path:
    """A per-lab state folder: links to the cached files and the lab's own config. Bochs only
    reads a state folder, so one cached state serves every lab."""
    rdir = lab_dir / "restore"
    safe_rmtree(rdir)
    rdir.mkdir(parents=True)
    for f in saved.state.iterdir():
        if f.name != "config":
            (rdir / f.name).symlink_to(f)
    config = restore_config((saved.state / "config").read_text(), saved.manifest["build_dir"], saved.dir,
                            {n: lab_dir / n for n in LAB_FILES + LAB_FILES_OPTIONAL}, rawdisk)
    (rdir / "config").write_text(config)
    return rdir


# Bochs restores its timers by slot number (the state's `pc_system` file), and a device's timers
# get their slots when its plugin is loaded. A restore loads plugins in the order of the saved
# config's `plugin_ctrl` line; a config without that line loads them as its device lines come
# (serial before e1000), so a restored timer could take the saved state of another device's (seen
# under Debian's 2.7: the eth_slirp timer got an inactive serial timer's, and slirp was never
# polled). The first boot of a state therefore unloads the plugins with timers that a config loads
# early, then names all of this build's optional plugins in the order Bochs writes them (its
# built-in plugin table, bochs_build.CONFIGURE decides which are in it). `_build_in` checks the
# saved config's line against PLUGIN_ORDER, so a rebuilt Bochs with other plugins fails loudly.
PLUGIN_ORDER = "unmapped=true, biosdev=true, speaker=false, extfpuirq=true, parallel=true, serial=true, e1000=true"
PLUGIN_CTRL = "plugin_ctrl: serial=false, e1000=false\n" f"plugin_ctrl: {PLUGIN_ORDER}"


def with_plugin_order(bochsrc: str) -> str:
    """`bochsrc` with PLUGIN_CTRL before any device line (see above)."""
    lines = bochsrc.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")), len(lines))
    return "".join(lines[:at]) + PLUGIN_CTRL + "\n" + "".join(lines[at:])


# ---- building -------------------------------------------------------------------------------------
def build(image, spec, backend, cmdline: str, media, key: str, ident: dict, timeout: float) -> SavedState:
    """Boot `image` cold with the seed port (`cmdline`), save the machine when the guest waits for
    its seed. `media(dir)` makes the boot media in the build directory (lab.bochs_media)."""
    final = entry_dir(key)
    with locked(name=".lock-bochs-state"):  # one state build at a time; image builds keep their own lock
        if (final / "manifest.json").is_file():
            return find(image, key)
        # Not `.tmp-*`: image builds remove those while holding only the image lock.
        for p in cache_root().glob(".build-bochs-state-*"):
            if not _owner_alive(p):
                safe_rmtree(p)
        tmp = cache_root() / f".build-{final.name}-{os.getpid()}"
        safe_rmtree(tmp)
        tmp.mkdir()
        try:
            saved = _build_in(tmp, final, image, spec, backend, cmdline, media(tmp), key, ident, timeout)
        except BaseException:
            safe_rmtree(tmp)
            raise
        return saved


def _owner_alive(tmp: Path) -> bool:
    m = re.search(r"-(\d+)$", tmp.name)
    return bool(m) and Path(f"/proc/{m.group(1)}").exists() and int(m.group(1)) != os.getpid()


def _build_in(tmp, final, image, spec, backend, cmdline, media, key, ident, timeout) -> SavedState:
    console = tmp / "console.log"
    console.touch()
    plan = backend.plan(spec, media, 0, tmp)
    for f, text in plan.files.items():
        f.write_text(with_plugin_order(text) if f.name == "bochsrc" else text)
    t0 = time.monotonic()
    popen, ref = vmproc.spawn(plan.argv, tmp / "bochs.out", cwd=tmp, env=plan.env)
    try:
        with step(f"first boot of {image.name} for its Bochs saved state (once per image)") as s:
            _wait_for(console, WAITING_MARK, ref, timeout, t0, s)
            boot_seconds = time.monotonic() - t0
            time.sleep(3)        # let the guest settle into nc's blocking accept
            s.update("saving the machine")
            t1 = time.monotonic()
            _save(ref, popen, tmp)
            save_seconds = time.monotonic() - t1
    finally:
        vmproc.kill(ref, popen=popen)
    missing = [f for f in REQUIRED if not (tmp / "state" / f).exists()]
    if missing:
        raise StepError("saved state", f"Bochs saved no {', '.join(missing)} (log: {tmp / 'bochs.log'})")
    saved_order = re.findall(r"^plugin_ctrl: (.*)$", (tmp / "state" / "config").read_text(), re.M)
    if saved_order != [PLUGIN_ORDER]:
        raise StepError("saved state", f"Bochs saved plugin_ctrl {saved_order}, the first boot loaded "
                        f"[{PLUGIN_ORDER!r}]: a restore would give timers to the wrong devices (PLUGIN_ORDER)")
    manifest = {"format": FORMAT, "key": key, "image": image.name, "image_key": image.key,
                "artifacts": image_artifacts(image), "machine": machine(spec, cmdline), "emulator": ident,
                "build_dir": str(tmp), "boot_seconds": round(boot_seconds, 1), "save_seconds": round(save_seconds, 1),
                "state_bytes_on_disk": _disk_usage(tmp / "state"),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    publish(tmp, final)
    return SavedState(final, key, manifest)


def _disk_usage(d: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in d.iterdir() if f.is_file())


def _wait_for(console: Path, mark: str, ref, timeout: float, t0: float, s) -> None:
    from ..lab import FATAL_CONSOLE, _tail

    while True:
        text = _tail(console)
        if mark in text:
            return
        fatal = FATAL_CONSOLE.search(text)
        if fatal:
            raise StepError("saved state", f"the guest reported '{fatal.group(0)}'", console)
        if not vmproc.alive(ref):
            raise StepError("saved state", "Bochs exited during the first boot", console)
        if time.monotonic() - t0 > timeout:
            raise StepError("saved state", f"the guest did not wait for its seed within {timeout:.0f}s", console)
        last = text.strip().splitlines()[-1][-60:] if text.strip() else "starting"
        s.update(f"{time.monotonic() - t0:4.0f}s  {last}")
        time.sleep(1)


# The header bar's buttons are 32 pixels wide, laid out from the right: power, save/restore, ...
SAVE_BUTTON_FROM_RIGHT = 48


def _save(ref, popen, tmp: Path) -> None:
    """Press save/restore, answer the folder prompt with `state`, then `n` (do not continue: power
    off). The prompt reads from Bochs' own console in the VNC screen; keys sent before it is up go
    to the guest's keyboard, which nothing reads, so each answer is repeated until it takes."""
    port = _rfb_port(ref.pid)
    (tmp / "state").mkdir()
    with RfbClient(port) as vnc:
        deadline = time.monotonic() + 180
        answered = False
        while not (tmp / "state" / "config").exists():
            if time.monotonic() > deadline or not vmproc.alive(ref):
                raise StepError("saved state", f"Bochs did not save its state (log: {tmp / 'bochs.log'})")
            vnc.click(vnc.width - SAVE_BUTTON_FROM_RIGHT, 8)
            time.sleep(2)
            vnc.type("state\n")
            answered = True
            for _ in range(40):
                if (tmp / "state" / "config").exists():
                    break
                time.sleep(0.25)
        assert answered
        # The save is done when Bochs asks whether to continue; "n" powers it off.
        while vmproc.alive(ref):
            if time.monotonic() > deadline:
                raise StepError("saved state", f"Bochs did not finish saving (log: {tmp / 'bochs.log'})")
            vnc.type("n\n")
            for _ in range(12):
                popen.poll()
                if not vmproc.alive(ref):
                    break
                time.sleep(0.25)


def _rfb_port(pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = sorted(p for p in listening_ports(pid) if 5900 <= p < 6000)
        if ports:
            return ports[0]
        time.sleep(0.5)
    raise StepError("saved state", f"Bochs (pid {pid}) opened no VNC port")


def remove(key: str) -> None:
    d = entry_dir(key)
    if d.exists():
        shutil.rmtree(d)


__all__ = ["FORMAT", "SEED_ARG", "SavedState", "bochs_identity", "build", "check", "find", "machine",
           "prepare_restore", "restore_config", "seed_message", "send_seed", "state_key"]
