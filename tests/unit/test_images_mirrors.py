"""Host mirror discovery from APT configuration (one-line and deb822), without touching /etc."""

from pathlib import Path

import pytest

from dunelab.errors import HostError
from dunelab.images.mirrors import debian_sources, host_mirrors, mirror_for, parse_deb822, parse_one_line


def _apt(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / "etc/apt" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


ONE_LINE = """\
# main archive
deb http://mirror.example/debian/ bookworm main contrib   # trailing comment
deb-src http://mirror.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://mirror.example/debian bookworm-updates main

#deb http://disabled.example/debian bookworm-backports main
deb http://security.example/debian-security bookworm-security main
deb https://vendor.example/apt cloud-sdk-bookworm main
"""

DEB822 = """\
Types: deb
# a comment inside a stanza
URIs: http://deb.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.example/debian-security
Suites: bookworm-security
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ...
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
Enabled: no
URIs: http://off.example/debian
Suites: trixie
Components: main

Types: deb
URIs: https://deb.nodesource.example/node_20.x
Suites: nodistro
Components: main
"""


def test_one_line_format():
    srcs = parse_one_line(ONE_LINE, "sources.list")
    assert [(s.uri, s.suite) for s in srcs] == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://mirror.example/debian", "bookworm-updates"),
        ("http://security.example/debian-security", "bookworm-security"),
        ("https://vendor.example/apt", "cloud-sdk-bookworm"),
    ]
    assert srcs[0].components == ("main", "contrib")
    assert srcs[1].signed_by == "/usr/share/keyrings/debian.gpg"


def test_deb822_format_with_comments_signed_by_and_disabled():
    srcs = parse_deb822(DEB822, "debian.sources")
    assert [(s.uri, s.suite) for s in srcs] == [
        ("http://deb.example/debian", "bookworm"),
        ("http://deb.example/debian", "bookworm-updates"),
        ("http://deb.example/debian-security", "bookworm-security"),
        ("https://deb.nodesource.example/node_20.x", "nodistro"),
    ]
    assert srcs[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert srcs[2].signed_by is None          # inline key block: not a keyring path


def test_host_mirrors_reads_all_files_and_ignores_non_debian(tmp_path):
    root = _apt(tmp_path, {"sources.list": "", "sources.list.d/debian.sources": DEB822,
                           "sources.list.d/vendor.list": "deb https://vendor.example/apt stable-x main\n",
                           "sources.list.d/old.list.disabled": "deb http://x.example/debian sid main\n"})
    assert host_mirrors(root) == {
        "bookworm": "http://deb.example/debian",
        "bookworm-updates": "http://deb.example/debian",
        "bookworm-security": "http://deb.example/debian-security",
    }


def test_first_entry_wins(tmp_path):
    root = _apt(tmp_path, {"sources.list": ONE_LINE, "sources.list.d/debian.sources": DEB822})
    assert host_mirrors(root)["bookworm"] == "http://mirror.example/debian"


def test_no_debian_mirror_is_a_host_error(tmp_path):
    root = _apt(tmp_path, {"sources.list": "# nothing\n",
                           "sources.list.d/nodesource.sources": DEB822.split("\n\n")[-1]})
    with pytest.raises(HostError, match="no Debian mirror configured"):
        host_mirrors(root)
    with pytest.raises(HostError):
        host_mirrors(tmp_path / "missing")


def test_mirror_for_falls_back_to_same_kind_of_archive(tmp_path):
    # A trixie host: bookworm comes from its main archive URI, bookworm-security from its security URI.
    root = _apt(tmp_path, {"sources.list": "deb http://m.example/debian trixie main\n"
                                          "deb http://s.example/debian-security trixie-security main\n"})
    srcs = debian_sources(root)
    assert mirror_for("bookworm", srcs).uri == "http://m.example/debian"
    assert mirror_for("bookworm-updates", srcs).uri == "http://m.example/debian"
    assert mirror_for("bookworm-security", srcs).uri == "http://s.example/debian-security"
    assert mirror_for("bookworm-security", srcs).suite == "bookworm-security"


def test_mirror_for_without_security_archive_is_a_host_error(tmp_path):
    root = _apt(tmp_path, {"sources.list": "deb http://m.example/debian bookworm main\n"})
    with pytest.raises(HostError, match="bookworm-security"):
        mirror_for("bookworm-security", debian_sources(root))
