"""A small declarative validator for the project's YAML files (labs, recipes, scenarios).

Every error is a ConfigError naming the file, the dotted field path and the reason, raised
before anything is started, so a typo never costs a 90-second boot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its type and the constraints on its value."""

    kind: type
    required: bool = False
    default: Any = None
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    items: Field | None = None                      # element schema, for lists
    fields: Mapping[str, Field] | None = None       # nested schema, for mappings
    values: Field | None = None                     # value schema for free-keyed mappings
    check: Callable[[Any], str | None] | None = None  # returns a reason when the value is bad
    optional: bool = False                          # a nested mapping that may be absent (then None)
    doc: str = ""


@dataclass
class Validator:
    file: Path | str
    errors: list[ConfigError] = field(default_factory=list)

    def fail(self, path: str, reason: str) -> None:
        raise ConfigError(self.file, path, reason)

    def value(self, spec: Field, value: Any, path: str) -> Any:
        kind = spec.kind
        # YAML gives ints where floats are meant; bools are ints in Python but never here.
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            self.fail(path, f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, got {_describe(value)}")
        if spec.choices and value not in spec.choices:
            self.fail(path, f"must be one of {', '.join(map(str, spec.choices))}, got {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            self.fail(path, f"must be at least {spec.minimum}, got {value}")
        if spec.maximum is not None and value > spec.maximum:
            self.fail(path, f"must be at most {spec.maximum}, got {value}")
        if kind is list and spec.items is not None:
            value = [self.value(spec.items, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind is dict and spec.fields is not None:
            value = self.mapping(spec.fields, value, path)
        elif kind is dict and spec.values is not None:
            value = {k: self.value(spec.values, v, f"{path}.{k}") for k, v in value.items()}
        if spec.check is not None:
            reason = spec.check(value)
            if reason:
                self.fail(path, reason)
        return value

    def mapping(self, schema: Mapping[str, Field], data: Any, path: str = "") -> dict:
        if not isinstance(data, dict):
            self.fail(path or "(top level)", f"must be a mapping, got {_describe(data)}")
        unknown = sorted(set(data) - set(schema), key=str)
        if unknown:
            known = ", ".join(schema)
            self.fail(_join(path, str(unknown[0])), f"unknown field (known fields: {known})")
        out = {}
        for name, spec in schema.items():
            sub = _join(path, name)
            if name not in data or data[name] is None:
                if spec.required:
                    self.fail(sub, "is required")
                out[name] = _copy_default(spec)
                if spec.kind is dict and spec.fields is not None and out[name] is None and not spec.optional:
                    out[name] = self.mapping(spec.fields, {}, sub)
                continue
            out[name] = self.value(spec, data[name], sub)
        return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _copy_default(spec: Field) -> Any:
    d = spec.default
    return list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def load_yaml(path: Path | str) -> Any:
    """Parse a YAML file; a missing file or a syntax error becomes a ConfigError with the line."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(p, "", "no such file") from None
    except OSError as e:
        raise ConfigError(p, "", f"cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "syntax"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(p, where, f"invalid YAML: {problem}") from None


def validate_file(path: Path | str, schema: Mapping[str, Field]) -> dict:
    """Load and validate a YAML mapping against `schema`; returns it with defaults filled in."""
    return Validator(path).mapping(schema, load_yaml(path))
