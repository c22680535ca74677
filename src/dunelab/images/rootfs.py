"""Stage 1: the Debian rootfs (debootstrap + the recipe's packages + the kernel pinned by ABI).

Both image forms are cut from this tree, and the Dune module is later built against its headers by
chrooting into it, so kernel, headers and gcc always match the guest.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..errors import StepError
from ..progress import StepHandle
from .cache import GUEST_DIR
from .chroot import chroot_argv, prepared
from .mirrors import Source
from .recipe import Recipe
from .run import capture, run_logged

STEP = "rootfs"

# apt inside the guest: only what is asked for, no recommends/suggests, fail instead of prompting.
_APT_CONF = """// dunelab: minimal installs
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
"""

_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def sources_deb822(sources: list[Source], components: list[str]) -> str:
    """The guest's APT sources: one stanza per URI, listing the suites it serves."""
    by_uri: dict[str, list[str]] = {}
    for s in sources:
        by_uri.setdefault(s.uri, []).append(s.suite)
    stanzas = []
    for uri, suites in by_uri.items():
        stanzas.append(f"Types: deb\nURIs: {uri}\nSuites: {' '.join(suites)}\n"
                       f"Components: {' '.join(components)}\nSigned-By: {_KEYRING}\n")
    return "# written by dunelab from the build host's APT configuration\n" + "\n".join(stanzas)


def available_abis(rootfs: Path, flavour: str) -> list[str]:
    out = capture(chroot_argv(rootfs, "apt-cache", "search", "--names-only",
                              rf"^linux-image-[0-9.]+-[0-9]+-{flavour}$"), STEP)
    rx = re.compile(rf"^linux-image-(\d+\.\d+\.\d+-\d+-{re.escape(flavour)}) ")
    abis = {m.group(1) for line in out.splitlines() if (m := rx.match(line))}
    return sorted(abis, key=lambda a: [int(x) if x.isdigit() else x for x in re.split(r"[.-]", a)])


def check_abi(rootfs: Path, abi: str) -> None:
    flavour = abi.split("-", 2)[2]
    abis = available_abis(rootfs, flavour)
    if abi not in abis:
        raise StepError(STEP, f"kernel ABI {abi} (recipe kernel_abi) is not available from the "
                        f"configured mirrors; available: {', '.join(abis) or 'none'}")
    heads = capture(chroot_argv(rootfs, "apt-cache", "search", "--names-only",
                                f"^linux-headers-{re.escape(abi)}$"), STEP)
    if not heads.strip():
        raise StepError(STEP, f"linux-headers-{abi} is not available although linux-image-{abi} is")


def packages(rootfs: Path) -> dict[str, str]:
    out = capture(chroot_argv(rootfs, "dpkg-query", "-W", "-f", "${Package}\t${Version}\n"), STEP)
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _strip(rootfs: Path) -> None:
    """Drop what a lab guest never uses and what must be unique per VM."""
    # (apt lists go too: ~50 MB; a chroot build that needs a package runs apt-get update first)
    for pattern in ("usr/share/man/*", "usr/share/info/*", "var/cache/apt/*.bin",
                    "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log",
                    "var/log/apt/*", "etc/ssh/ssh_host_*"):
        for p in rootfs.glob(pattern):
            if (p.is_file() or p.is_symlink()) and p.name != "lock":
                p.unlink()
    for p in rootfs.glob("usr/share/doc/*/*"):
        if p.name != "copyright" and (p.is_file() or p.is_symlink()):
            p.unlink()
    for p in rootfs.glob("usr/share/locale/*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
    # machine-id: empty means "generate on first boot", so every VM gets its own.
    (rootfs / "etc/machine-id").write_text("")
    dbus_id = rootfs / "var/lib/dbus/machine-id"
    if dbus_id.is_file() and not dbus_id.is_symlink():
        dbus_id.unlink()
    (rootfs / "etc/hostname").write_text("dunelab\n")


def build_rootfs(recipe: Recipe, sources: dict[str, Source], out: Path, log: Path,
                 handle: StepHandle) -> dict:
    """debootstrap into out/rootfs and install everything; returns facts for the manifest."""
    d = recipe.data["distribution"]
    abi = recipe.kernel_abi
    root = out / "rootfs"
    main = sources[d["suite"]]

    def detail(line: str) -> None:
        handle.update(detail=line)

    argv = ["debootstrap", f"--variant={d['variant']}", f"--arch={recipe.data['arch']}",
            f"--components={','.join(d['components'])}", "--merged-usr"]
    if main.signed_by and Path(main.signed_by).is_file():
        argv.append(f"--keyring={main.signed_by}")
    argv += [d["suite"], str(root), main.uri]
    handle.update(detail=f"debootstrap {d['suite']} from {main.uri}")
    run_logged(argv, log, STEP, detail)

    # The guest's APT config: every suite of the recipe at the host-derived URIs.
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    suites = [sources[s] for s in [d["suite"], *d["extra_suites"]]]
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources_deb822(suites, d["components"]))
    (root / "etc/apt/apt.conf.d/90dunelab").write_text(_APT_CONF)
    (root / "etc/dpkg/dpkg.cfg.d/90dunelab-nodoc").write_text((GUEST_DIR / "dpkg-nodoc").read_text())

    with prepared(root):
        # We boot with our own initramfs: divert the hook that would make Debian's (slow, large).
        run_logged(chroot_argv(root, "dpkg-divert", "--local", "--rename", "--divert",
                               "/etc/kernel/postinst.d/initramfs-tools.dunelab-disabled", "--add",
                               "/etc/kernel/postinst.d/initramfs-tools"), log, STEP)
        handle.update(detail="apt-get update")
        run_logged(chroot_argv(root, "apt-get", "update"), log, STEP, detail)
        check_abi(root, abi)
        pkgs = [*recipe.data["packages"], f"linux-image-{abi}", f"linux-headers-{abi}"]
        run_logged(chroot_argv(root, "apt-get", "install", "-y", "--no-install-recommends", *pkgs),
                   log, STEP, detail)
        run_logged(chroot_argv(root, "apt-get", "clean"), log, STEP)
        versions = packages(root)

    for what in (f"boot/vmlinuz-{abi}", f"lib/modules/{abi}/modules.dep", f"usr/src/linux-headers-{abi}"):
        if not (root / what).exists():
            raise StepError(STEP, f"{what} is missing after installing the kernel (log: {log})")
    for initrd in root.glob("boot/initrd.img-*"):
        initrd.unlink()              # should not exist (hook diverted), and is never used
    _strip(root)

    facts = {"kernel_release": abi, "packages": versions,
             "mirrors": {s.suite: s.uri for s in suites}}
    (out / "rootfs.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    return facts
