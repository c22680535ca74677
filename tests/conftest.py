"""Shared fixtures: an isolated DUNELAB_HOME per test session so tests never touch a user's labs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tmp_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dunelab-home"
    monkeypatch.setenv("DUNELAB_HOME", str(home))
    return home


@pytest.fixture
def write_yaml(tmp_path):
    def write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return write


def pytest_report_header(config):
    return f"DUNELAB_HOME={os.environ.get('DUNELAB_HOME', '(default)')}"
