"""Where dunelab keeps state: $DUNELAB_HOME (default <checkout>/.dunelab), never committed."""

from __future__ import annotations

import os
from pathlib import Path

from . import PROJECT_ROOT


def home() -> Path:
    return Path(os.environ.get("DUNELAB_HOME") or PROJECT_ROOT / ".dunelab").resolve()


def lab_dir(name: str) -> Path:
    """Per-lab state: keys, console log, VM config, state.json."""
    return home() / "labs" / name


def results_dir() -> Path:
    return Path(os.environ.get("DUNELAB_RESULTS") or PROJECT_ROOT / "results").resolve()
