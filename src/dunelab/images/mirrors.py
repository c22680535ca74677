"""Which Debian mirror to build from: read from the host's APT configuration, never hard-coded.

Both source formats are understood: one-line ``deb URI suite comp...`` (sources.list, *.list) and
deb822 stanzas (*.sources). The recipe names suites; the host decides where they are served from,
so a lab built behind a corporate mirror or a snapshot proxy uses that mirror without edits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import HostError

# Debian release names a mirror can serve; anything else (Ubuntu, vendor repos) is ignored.
_DEBIAN_DISTS = {
    "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
    "oldoldstable", "oldstable", "stable", "testing", "unstable", "experimental",
}
_SUFFIXES = ("", "-updates", "-security", "-backports", "-proposed-updates", "/updates")


@dataclass(frozen=True)
class Source:
    """One enabled binary-package source: a URI serving one suite."""

    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: str | None
    file: str


def is_debian_suite(suite: str) -> bool:
    return any(suite == d + s for d in _DEBIAN_DISTS for s in _SUFFIXES)


def suite_kind(suite: str) -> str:
    """'security' archives live at a different URI than the main archive ('main' / 'updates')."""
    if suite.endswith("-security") or suite.endswith("/updates"):
        return "security"
    return "main"


def parse_one_line(text: str, file: str = "") -> list[Source]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        opts = {}
        # Options come in brackets: deb [arch=amd64 signed-by=/x.gpg] URI suite comps
        m = re.match(r"^(deb|deb-src)\s+\[([^\]]*)\]\s+(.*)$", line)
        if m:
            kind, optstr, rest = m.groups()
            for opt in optstr.split():
                k, _, v = opt.partition("=")
                opts[k.lower()] = v
        else:
            kind, _, rest = line.partition(" ")
        if kind != "deb":
            continue
        words = rest.split()
        if len(words) < 2:
            continue
        out.append(Source(words[0].rstrip("/"), words[1], tuple(words[2:]), opts.get("signed-by"), file))
    return out


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas, cur, key = [], {}, None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue                       # comments may sit anywhere, even inside a stanza
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
            continue
        if raw[0] in " \t" and key:        # continuation line (e.g. an inline Signed-By key block)
            cur[key] += "\n" + raw.strip()
            continue
        key, _, value = raw.partition(":")
        key = key.strip().lower()
        cur[key] = value.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def parse_deb822(text: str, file: str = "") -> list[Source]:
    out = []
    for st in _deb822_stanzas(text):
        if "deb" not in st.get("types", "").split():
            continue
        if st.get("enabled", "yes").lower() in ("no", "false", "0"):
            continue
        signed = st.get("signed-by")
        # An inline armored key is not a path; debootstrap cannot use it, so keep paths only.
        signed = signed if signed and "\n" not in signed else None
        for uri in st.get("uris", "").split():
            for suite in st.get("suites", "").split():
                comps = tuple(st.get("components", "").split())
                out.append(Source(uri.rstrip("/"), suite, comps, signed, file))
    return out


def host_sources(root: Path = Path("/")) -> list[Source]:
    """Every enabled `deb` source configured on the host, in APT's reading order."""
    apt = root / "etc/apt"
    found: list[Source] = []
    main = apt / "sources.list"
    if main.is_file():
        found += parse_one_line(main.read_text(errors="replace"), str(main))
    d = apt / "sources.list.d"
    if d.is_dir():
        for f in sorted(d.iterdir()):
            if f.suffix == ".list" and f.is_file():
                found += parse_one_line(f.read_text(errors="replace"), str(f))
            elif f.suffix == ".sources" and f.is_file():
                found += parse_deb822(f.read_text(errors="replace"), str(f))
    return found


def debian_sources(root: Path = Path("/")) -> list[Source]:
    """The host sources that serve Debian suites; HostError when there are none."""
    found = [s for s in host_sources(root) if is_debian_suite(s.suite)]
    if not found:
        raise HostError(f"no Debian mirror configured in {root / 'etc/apt'} (sources.list, "
                        "sources.list.d/*.list or *.sources): the image builder takes its mirror "
                        "from the host's APT configuration")
    return found


def host_mirrors(root: Path = Path("/")) -> dict[str, str]:
    """Suite -> URI for every Debian suite the host's APT configuration serves (first one wins)."""
    out: dict[str, str] = {}
    for s in debian_sources(root):
        out.setdefault(s.suite, s.uri)
    return out


def mirror_for(suite: str, sources: list[Source]) -> Source:
    """The source for `suite`: the host's own entry, else one serving the same kind of archive.

    A Debian mirror serves every release, so a trixie host's main URI also serves bookworm, and
    its security URI serves bookworm-security.
    """
    for s in sources:
        if s.suite == suite:
            return s
    for s in sources:
        if suite_kind(s.suite) == suite_kind(suite):
            return Source(s.uri, suite, s.components, s.signed_by, s.file)
    have = ", ".join(sorted({f"{s.suite} ({s.uri})" for s in sources}))
    raise HostError(f"no mirror for Debian suite {suite} in the host's APT configuration "
                    f"(configured: {have})")
