"""Image form 1: a small initramfs that IS the guest (Bochs) or boots the disk form (QEMU).

Contents: static busybox (shell, init, ip, switch_root ...), sshd + kmod + the recipe's binaries
with exactly the shared libraries they need (resolved by the rootfs's own loader, so host and
guest library versions never mix), the recipe's kernel modules with their dependencies and a
depmod'ed index, and our init scripts. Under Bochs every byte is unpacked at emulated speed, so
nothing else goes in.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ..errors import StepError
from ..progress import StepHandle
from .cache import GUEST_DIR
from .chroot import chroot_argv, safe_rmtree
from .cpio import CpioWriter
from .recipe import Recipe
from .run import capture, run_logged

STEP = "initramfs"
_MERGED = ("bin", "sbin", "lib", "lib64")   # top-level symlinks into /usr on merged-/usr Debian
_COMPRESS = {"zstd": ["zstd", "-q", "-T0", "-c"], "xz": ["xz", "-q", "-T0", "--check=crc32", "-c"],
             "gzip": ["gzip", "-n", "-c"], "none": ["cat"]}
_MAX_LINKS = 40   # symlinks followed per path (the kernel's MAXSYMLINKS): more means a loop


class _SymlinkLoop(Exception):
    def __init__(self, path: str):
        super().__init__(path)
        self.path = path   # as far as resolution got


def _first_link(rootfs: Path, path: str) -> tuple[str, str, str] | None:
    """The first symlink on guest path `path`, walking down from /, as (link, its target as stored,
    the guest path to resolve next), or None if no component of `path` is a symlink."""
    parts = PurePosixPath(path).parts[1:]
    cur = PurePosixPath("/")
    for i, part in enumerate(parts):
        nxt = cur / part
        src = rootfs / str(nxt)[1:]
        if src.is_symlink():
            target = os.readlink(src)
            # An absolute target is a guest path: it stays inside the rootfs, never the host's.
            base = PurePosixPath(target) if target.startswith("/") else cur / target
            return str(nxt), target, os.path.normpath(str(base.joinpath(*parts[i + 1:])))
        cur = nxt
    return None


def _walk(rootfs: Path, path: str, on_link: Callable[[str, str], None] | None = None) -> str:
    """Guest path `path` with every symlink resolved inside `rootfs`; each link met is reported
    as on_link(link, target). Raises _SymlinkLoop past _MAX_LINKS links."""
    links = 0
    while (hop := _first_link(rootfs, path)) is not None:
        link, target, path = hop
        if on_link:
            on_link(link, target)
        links += 1
        if links > _MAX_LINKS:
            raise _SymlinkLoop(path)
    return "/" + "/".join(PurePosixPath(path).parts[1:])   # as walked: rooted at /, no "//" or "." parts


def copy_in(rootfs: Path, stage: Path, path: str) -> None:
    """Copy guest path `path` from rootfs to stage, recreating every symlink met on the way
    (so /lib/x86_64-linux-gnu/libc.so.6 and its /usr/lib target both work in the initramfs)."""

    def recreate(link: str, target: str) -> None:
        dst = stage / link[1:]
        if not dst.is_symlink() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, dst)

    try:
        real = _walk(rootfs, path, on_link=recreate)
    except _SymlinkLoop as e:
        raise StepError(STEP, f"symlink loop resolving {e.path} in the rootfs") from None
    src, dst = rootfs / real.lstrip("/"), stage / real.lstrip("/")
    if not src.exists():
        raise StepError(STEP, f"{real} does not exist in the rootfs (recipe initramfs.binaries/files)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)


_LDD = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def shared_libs(rootfs: Path, binary: str) -> list[str]:
    """The libraries `binary` loads, as the rootfs's dynamic loader resolves them."""
    # Static binaries make ldd exit 1 with "not a dynamic executable": no libraries needed.
    p = subprocess.run(chroot_argv(rootfs, "ldd", binary), capture_output=True, text=True)
    out = p.stdout + p.stderr
    if "not a dynamic executable" in out or "statically linked" in out:
        return []
    if p.returncode != 0:
        raise StepError(STEP, f"ldd {binary} in the rootfs failed: {out.strip()[:200]}")
    missing = [ln.split()[0] for ln in out.splitlines() if "not found" in ln]
    if missing:
        raise StepError(STEP, f"{binary} needs {', '.join(missing)}, which the rootfs lacks")
    return [m.group(1) for ln in out.splitlines() if (m := _LDD.search(ln))]


def resolve_in(rootfs: Path, path: str) -> str:
    """Like realpath, but absolute symlinks point into the rootfs, not the host. Past _MAX_LINKS
    links it returns the path as far as it got instead of failing: _aliases only compares paths,
    and a looping link in /usr/bin must not stop the build."""
    try:
        return _walk(rootfs, path)
    except _SymlinkLoop as e:
        return e.path


def _aliases(rootfs: Path, binary: str) -> list[str]:
    """Rootfs symlinks naming `binary` (e.g. /usr/sbin/modprobe -> /bin/kmod) to recreate."""
    real = resolve_in(rootfs, binary)
    out = []
    for d in ("/usr/bin", "/usr/sbin"):
        for p in sorted((rootfs / d[1:]).iterdir()):
            alias = f"{d}/{p.name}"
            if p.is_symlink() and resolve_in(rootfs, alias) == real:
                out.append(alias)
    return out


def _module_name(relpath: str) -> str:
    return Path(relpath).name.split(".ko")[0].replace("-", "_")


def select_modules(moddir: Path, wanted: list[str]) -> tuple[list[str], list[str]]:
    """(module files to copy, wanted names that are built into the kernel)."""
    deps: dict[str, list[str]] = {}
    path_of: dict[str, str] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
        path_of[_module_name(mod)] = mod
    builtin = set()
    if (moddir / "modules.builtin").is_file():
        builtin = {_module_name(x) for x in (moddir / "modules.builtin").read_text().split()}
    files: list[str] = []
    builtin_hits: list[str] = []
    missing: list[str] = []
    for name in wanted:
        key = name.replace("-", "_")
        if key in path_of:
            todo = [path_of[key]]
            while todo:
                f = todo.pop()
                if f not in files:
                    files.append(f)
                    todo.extend(deps.get(f, []))
        elif key in builtin:
            builtin_hits.append(name)
        else:
            missing.append(name)
    if missing:
        raise StepError(STEP, f"kernel module(s) {', '.join(missing)} (recipe initramfs.modules) are "
                        f"neither modules nor built into {moddir.name}")
    return sorted(files), builtin_hits


def _busybox_applets(stage: Path, busybox: Path, taken: set[str]) -> int:
    out = capture([str(busybox), "--list-full"], STEP)
    n = 0
    for rel in out.split():
        if rel == "linuxrc":
            continue
        link = stage / rel
        # A real program (kmod's lsmod, sshd ...) wins over the applet, wherever it is on PATH.
        if link.exists() or link.is_symlink() or Path(rel).name in taken:
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/usr/bin/busybox", link)
        n += 1
    return n


def _guest(name: str, dest: Path, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(GUEST_DIR / name, dest)
    dest.chmod(mode)


def populate(recipe: Recipe, rootfs: Path, stage: Path, log: Path, image_key: str = "") -> dict:
    ir = recipe.data["initramfs"]
    krel = recipe.kernel_abi
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "dev", "proc", "sys", "run", "tmp",
              "root", "etc/ssh", "etc/dunelab", "var/log", "var/empty", "newroot", "mnt", "home"):
        (stage / d).mkdir(parents=True, exist_ok=True)
    (stage / "root").chmod(0o700)
    (stage / "tmp").chmod(0o1777)
    for link in _MERGED:
        if (rootfs / link).is_symlink():
            os.symlink(os.readlink(rootfs / link), stage / link)
    (stage / "var/run").symlink_to("/run")

    # Programs, their aliases and their libraries (binaries first: applets never shadow them).
    busybox = "/usr/bin/busybox"
    copy_in(rootfs, stage, busybox)
    libs: set[str] = set()
    taken: set[str] = set()
    for b in ir["binaries"]:
        copy_in(rootfs, stage, b)
        taken.add(PurePosixPath(b).name)
        for alias in _aliases(rootfs, b):
            copy_in(rootfs, stage, alias)
            taken.add(PurePosixPath(alias).name)
        libs.update(shared_libs(rootfs, b))
    for lib in sorted(libs):
        copy_in(rootfs, stage, lib)
    for f in ir["files"]:
        copy_in(rootfs, stage, f)
    applets = _busybox_applets(stage, rootfs / busybox.lstrip("/"), taken)

    # Kernel modules + a fresh index covering just these, so modprobe resolves dependencies.
    moddir = rootfs / "usr/lib/modules" / krel
    files, builtin = select_modules(moddir, ir["modules"])
    out_moddir = stage / "usr/lib/modules" / krel
    for f in files:
        (out_moddir / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(moddir / f, out_moddir / f)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (moddir / f).is_file():
            shutil.copy2(moddir / f, out_moddir / f)
    run_logged(["depmod", "-b", str(stage), krel], log, STEP)

    # Our init, configuration and accounts.
    _guest("init", stage / "init", 0o755)
    _guest("inittab", stage / "etc/inittab", 0o644)
    _guest("rc.boot", stage / "etc/dunelab/rc.boot", 0o755)
    _guest("rc.shutdown", stage / "etc/dunelab/rc.shutdown", 0o755)
    _guest("seed-install", stage / "etc/dunelab/seed-install", 0o755)
    _guest("seed-receive", stage / "etc/dunelab/seed-receive", 0o755)
    _guest("start-sshd", stage / "etc/dunelab/start-sshd", 0o755)
    _guest("sshd_config", stage / "etc/ssh/sshd_config", 0o644)
    _guest("passwd", stage / "etc/passwd", 0o644)
    _guest("group", stage / "etc/group", 0o644)
    _guest("shadow", stage / "etc/shadow", 0o600)
    (stage / "etc/dunelab/modules-load").write_text("\n".join(ir["load"]) + "\n")
    # which image this is, for a guest to prove it (a restored Bochs state must be of this image)
    (stage / "etc/dunelab/image-key").write_text(image_key + "\n")
    (stage / "etc/dunelab/net.conf").write_text(f"ADDRESS={ir['address']}\nGATEWAY={ir['gateway']}\n")
    (stage / "etc/hostname").write_text("dunelab\n")
    (stage / "etc/shells").write_text("/bin/sh\n")
    (stage / "etc/profile").write_text('export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nPS1="\\h:\\w\\$ "\n')
    return {"modules": [_module_name(f) for f in files], "builtin_modules": builtin,
            "libraries": sorted(libs), "busybox_applets": applets}


def pack(stage: Path, out: Path, compression: str, level: int) -> int:
    """newc cpio of `stage` (plus /dev/null for /init's first stdio), compressed, zero-padded to 4
    bytes so a seed archive can be appended. Returns cpio size.

    No /dev/console: the kernel opens it for PID 1 before /init runs, and opening the serial console
    tty enables the UART's receive interrupts for good (a console port is never shut down). The
    guest's userspace writes to /dev/kmsg instead (guest/init), so the serial line stays output-only:
    nothing can arrive on it, which a restored Bochs machine relies on (bochs_state.py)."""
    argv = list(_COMPRESS[compression])
    if compression in ("zstd", "xz", "gzip"):
        lvl = min(level, 9) if compression != "zstd" else level
        argv.insert(1, f"-{lvl}")
    with out.open("wb") as dst:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=dst)
        assert proc.stdin is not None
        counter = _Counting(proc.stdin)
        w = CpioWriter(counter)
        w.add_dir("dev", 0o755)
        w.add_node("dev/null", stat.S_IFCHR | 0o666, 1, 3)
        w.add_tree(stage)
        w.close()
        proc.stdin.close()
        if proc.wait() != 0:
            raise StepError(STEP, f"{argv[0]} failed compressing the initramfs")
    with out.open("ab") as f:
        f.write(b"\0" * (-out.stat().st_size % 4))
    return counter.n


class _Counting:
    def __init__(self, f):
        self.f, self.n = f, 0

    def write(self, b: bytes) -> None:
        self.n += len(b)
        self.f.write(b)


def build_initramfs(recipe: Recipe, rootfs: Path, out: Path, work: Path, log: Path,
                    handle: StepHandle, image_key: str = "") -> dict:
    stage = work / "initramfs-tree"
    ir = recipe.data["initramfs"]
    try:
        handle.update(detail="collecting busybox, sshd, libraries, modules")
        info = populate(recipe, rootfs, stage, log, image_key)
        handle.update(detail=f"packing ({ir['compression']} -{ir['level']})")
        info["uncompressed_bytes"] = pack(stage, out, ir["compression"], ir["level"])
    finally:
        safe_rmtree(stage)
    info["compressed_bytes"] = out.stat().st_size
    info["compression"] = ir["compression"]
    return info
