"""Errors the CLI reports as one clear line instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class DunelabError(Exception):
    """Base class: anything the user can act on. `str()` is the one-line message."""


class ConfigError(DunelabError):
    """A lab, recipe or scenario file is malformed: names the file, the field and why."""

    def __init__(self, file: str | Path, field: str, reason: str):
        self.file = str(file)
        self.field = field
        self.reason = reason
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(f"{where}: {reason}")


class HostError(DunelabError):
    """This host lacks something a step needs (a tool, a free port, a device)."""


class StepError(DunelabError):
    """A lab step failed (boot, SSH, provisioning); names the step and keeps the evidence."""

    def __init__(self, step: str, reason: str, console_log: Path | None = None):
        self.step = step
        self.reason = reason
        self.console_log = console_log
        msg = f"{step} failed: {reason}"
        if console_log:
            msg += f" (console log kept at {console_log})"
        super().__init__(msg)
