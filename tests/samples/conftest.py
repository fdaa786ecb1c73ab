"""Fixtures for the sample engine tests: one registry for the session, a library per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from luaproxy.worker.samples import PatternLibrary, SampleRegistry, default_registry


@pytest.fixture(scope="session")
def registry() -> SampleRegistry:
    return default_registry()


@pytest.fixture
def library(tmp_path: Path) -> PatternLibrary:
    return PatternLibrary(str(tmp_path))
