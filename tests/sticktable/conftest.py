from __future__ import annotations

import pytest

from luaproxy.worker.samples import SampleRegistry, default_registry


@pytest.fixture(scope="session")
def registry() -> SampleRegistry:
    return default_registry()
