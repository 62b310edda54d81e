"""Reliability fixtures: the web app fixtures of tests/webui, shared here."""

from __future__ import annotations

from tests.webui.conftest import app, client, compiled_translations, fast_hashing, runner

__all__ = ["app", "client", "compiled_translations", "fast_hashing", "runner"]
