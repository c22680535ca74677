"""Fleet inventories: the existing hosts `dunelab run --hosts FILE` provisions and runs scenarios on.

    # inventories are YAML; `defaults` applies to every host, a host's own fields win
    defaults:
      user: root
      key: ~/.ssh/id_ed25519
    hosts:
      - name: xeon-1                 # names the host's results directory (DIR/xeon-1/)
        address: 10.1.2.3
        bare_metal: true             # dune.ko goes into THIS machine's kernel: needs --bare-metal
        host_key: ssh-ed25519 AAAAC3...
        artifacts: remote-build      # its own kernel: build dune.ko there, against its headers
      - name: cloud-vm
        address: vm.example.org
        user: debian                 # not root: every command runs through passwordless sudo
        known_hosts: ~/.ssh/known_hosts

A malformed file is rejected before any connection is made, naming file, field and reason. Relative
paths are relative to the inventory file; `~` is expanded.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from . import PROJECT_ROOT, paths
from .errors import ConfigError
from .schema import Field, Validator, load_yaml

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9.:_-]+$")
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                  "ssh-rsa")
ARTIFACTS = ("image", "remote-build")
CLOCKS = ("auto", "emulated", "hardware")
POLICIES = ("pinned", "first-use")


def _name_ok(v: str) -> str | None:
    return None if _NAME_RE.match(v) else ("must be 1-63 of a-z, 0-9, '.', '-', '_', starting with a letter or "
                                           "digit (it names the host's results directory)")


def _address_ok(v: str) -> str | None:
    return None if _ADDRESS_RE.match(v) else "must be a host name or an IP address"


def host_key_problem(v: str) -> str | None:
    parts = v.split()
    if len(parts) < 2:
        return "must be an OpenSSH public key line: TYPE BASE64 [comment]"
    if parts[0] not in HOST_KEY_TYPES:
        return f"key type {parts[0]!r} is not one of {', '.join(HOST_KEY_TYPES)}"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return "the key is not valid base64"
    if parts[0].encode() not in blob[:64]:
        return f"the key's blob is not a {parts[0]} key"
    return None


# Every field a host may set; `defaults` may set all but name and address.
HOST_FIELDS: dict[str, Field] = {
    "name": Field(str, required=True, check=_name_ok),
    "address": Field(str, required=True, check=_address_ok, doc="host name or IP address for SSH"),
    "port": Field(int, default=22, minimum=1, maximum=65535),
    "user": Field(str, default="root", doc="SSH user; anyone but root needs passwordless sudo"),
    "key": Field(str, default=None, doc="private key file; default: ssh-agent and ~/.ssh/id_*"),
    "known_hosts": Field(str, default=None, doc="known_hosts file holding the host's key"),
    "host_key": Field(str, default=None, check=host_key_problem, doc="the host's public key line, pinned"),
    "host_key_policy": Field(str, default="pinned", choices=POLICIES,
                             doc="first-use: record an unknown host's key, then pin it"),
    "artifacts": Field(str, default="image", choices=ARTIFACTS,
                       doc="image: the host runs `image` (built here, in its rootfs); "
                           "remote-build: built on the host against its own kernel headers"),
    "image": Field(str, default="images/bookworm.yaml", doc="image recipe (artifacts: image)"),
    "bare_metal": Field(bool, default=False, doc="the host is a physical machine: dune.ko loads into its kernel"),
    "clock": Field(str, default="auto", choices=CLOCKS,
                   doc="auto: emulated under QEMU TCG or Bochs (systemd-detect-virt), else hardware"),
    "backend": Field(str, default="ssh", doc="label for the report, e.g. vagrant-libvirt"),
    "connect_timeout": Field(int, default=30, minimum=1, maximum=3600),
}
DEFAULT_FIELDS = {k: Field(v.kind, default=None, choices=v.choices, minimum=v.minimum, maximum=v.maximum,
                           check=v.check, doc=v.doc)
                  for k, v in HOST_FIELDS.items() if k not in ("name", "address")}
INVENTORY_SCHEMA = {
    "defaults": Field(dict, optional=True, fields=DEFAULT_FIELDS),
    "hosts": Field(list, required=True, items=Field(dict)),
}


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    port: int
    user: str
    key: Path | None
    known_hosts: Path          # where the host's key is looked up (and, for first-use, recorded)
    host_key: str | None       # pinned key line from the inventory (written into known_hosts at run time)
    host_key_policy: str
    artifacts: str
    image: Path | None         # recipe, for artifacts: image
    bare_metal: bool
    clock: str
    backend: str
    connect_timeout: int

    @property
    def target(self) -> str:
        return f"{self.user}@{self.address}" + (f":{self.port}" if self.port != 22 else "")

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: tuple[HostSpec, ...]

    @property
    def bare_metal(self) -> list[HostSpec]:
        return [h for h in self.hosts if h.bare_metal]

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


def _path(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def load_inventory(path: Path | str) -> Inventory:
    p = Path(path)
    v = Validator(p)
    data = v.mapping(INVENTORY_SCHEMA, load_yaml(p))
    given_defaults = {k: val for k, val in (data["defaults"] or {}).items() if val is not None}
    raw_hosts = data["hosts"]
    if not raw_hosts:
        v.fail("hosts", "must list at least one host")
    base = p.resolve().parent
    hosts: list[HostSpec] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_hosts):
        where = f"hosts[{i}]"
        if not isinstance(raw, dict):
            v.fail(where, f"must be a mapping, got {type(raw).__name__}")
        h = v.mapping(HOST_FIELDS, {**given_defaults, **{k: x for k, x in raw.items() if x is not None}}, where)
        if h["name"] in seen:
            v.fail(f"{where}.name", f"duplicate host name {h['name']!r} (also hosts[{seen[h['name']]}])")
        seen[h["name"]] = i
        hosts.append(_resolve(v, base, where, h))
    return Inventory(p, tuple(hosts))


def _resolve(v: Validator, base: Path, where: str, h: dict) -> HostSpec:
    key = None
    if h["key"]:
        key = _path(base, h["key"])
        if not key.is_file():
            v.fail(f"{where}.key", f"no such file: {key}")
    if h["host_key"] and h["known_hosts"]:
        v.fail(f"{where}.host_key", "give host_key or known_hosts, not both")
    if h["known_hosts"]:
        known = _path(base, h["known_hosts"])
        if h["host_key_policy"] == "pinned" and not known.is_file():
            v.fail(f"{where}.known_hosts", f"no such file: {known} (or set host_key_policy: first-use)")
    elif h["host_key"]:
        known = paths.home() / "fleet" / "known_hosts" / h["name"]   # rewritten from host_key at run time
    elif h["host_key_policy"] == "first-use":
        known = paths.home() / "fleet" / "known_hosts" / "first-use"
    else:
        known = Path("~/.ssh/known_hosts").expanduser()
    image = None
    if h["artifacts"] == "image":
        image = _path(PROJECT_ROOT, h["image"]) if not Path(h["image"]).expanduser().is_absolute() \
            else Path(h["image"]).expanduser()
        if not image.is_file():
            v.fail(f"{where}.image", f"recipe {h['image']} does not exist")
    return HostSpec(name=h["name"], address=h["address"], port=h["port"], user=h["user"], key=key,
                    known_hosts=known, host_key=h["host_key"], host_key_policy=h["host_key_policy"],
                    artifacts=h["artifacts"], image=image, bare_metal=h["bare_metal"], clock=h["clock"],
                    backend=h["backend"], connect_timeout=h["connect_timeout"])


def bare_metal_warning(hosts: list[HostSpec]) -> str:
    names = ", ".join(f"{h.name} ({h.target})" for h in hosts)
    return (f"BARE METAL: {names}. dune.ko will be loaded into the kernel of "
            f"{'this machine' if len(hosts) == 1 else 'these machines'} itself, not into a VM: a bug in the "
            "module can oops, hang or corrupt them, and the hostile rows attack them on purpose.")


def check_bare_metal(inv: Inventory, allowed: bool) -> None:
    """Refuse to touch bare-metal hosts unless the user said --bare-metal."""
    if inv.bare_metal and not allowed:
        raise ConfigError(inv.path, f"hosts[{inv.hosts.index(inv.bare_metal[0])}].bare_metal",
                          bare_metal_warning(inv.bare_metal) + " Pass --bare-metal to do it anyway.")

