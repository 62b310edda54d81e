"""Reliability fixtures: the web app fixtures of tests/webui, shared here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.scenario import scenario_may_issue
from tests.webui.conftest import app, client, compiled_translations, fast_hashing, runner

__all__ = ["app", "client", "compiled_translations", "fast_hashing", "runner"]


@pytest.fixture(scope="module", autouse=True)
def _scenario_may_issue() -> Iterator[None]:
    """Let the shared scenario's process issue from the register in every reliability module."""
    with scenario_may_issue():
        yield
