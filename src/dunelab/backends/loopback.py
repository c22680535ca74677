"""Keep Bochs' unauthenticated VNC server off the network: bochs-loopback.c, LD_PRELOAD'ed into
Bochs, rewrites bind() to a wildcard address into a bind to loopback (Bochs 2.7's rfb display
has no bind-address option and no authentication; see the C file).

The shared object is built once per source version with the host's gcc into
$DUNELAB_HOME/cache/tools/ (scripts/bootstrap installs gcc) and named by the source's digest, so a
changed source is rebuilt and a stale build is never used.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from .. import paths
from ..errors import HostError

SOURCE = Path(__file__).with_name("bochs-loopback.c")


def shim_path() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return paths.home() / "cache" / "tools" / f"bochs-loopback-{digest}.so"


def ensure_shim() -> Path:
    """The built shim, building it now if this source version has not been built yet."""
    out = shim_path()
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    try:
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(SOURCE), "-ldl"],
                       check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise HostError("gcc is missing: it builds the shim that keeps Bochs' VNC server on loopback "
                        "(apt-get install gcc, or scripts/bootstrap)") from None
    except subprocess.CalledProcessError as e:
        tmp.unlink(missing_ok=True)
        raise HostError(f"building {SOURCE.name} failed: {e.stderr.strip()[-300:]}") from None
    os.replace(tmp, out)
    return out
