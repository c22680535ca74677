"""Per-lab SSH identities: a client key the guest trusts and a host key the client pins.

Both are generated on the host, so the guest's host key is known before it boots and the client
can refuse anything else (no trust-on-first-use).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    @property
    def public_line(self) -> str:
        return self.public.read_text().strip()


def ensure_keypair(private: Path, comment: str) -> KeyPair:
    """Create an OpenSSH ed25519 key pair at `private` (+ .pub) unless it already exists."""
    public = private.with_name(private.name + ".pub")
    if private.exists() and public.exists():
        return KeyPair(private, public)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    private.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public.write_text(f"{pub.decode()} {comment}\n")
    return KeyPair(private, public)


def known_hosts_line(host: str, port: int, host_key: KeyPair) -> str:
    """OpenSSH known_hosts syntax: a non-22 port is written [host]:port."""
    name = host if port == 22 else f"[{host}]:{port}"
    keytype, blob = host_key.public_line.split()[:2]
    return f"{name} {keytype} {blob}\n"
