"""The quick hostile load of bench/hostile_load.py: hostile deploys and malformed requests among the staff."""

from __future__ import annotations

import pytest

from bench.hostile_load import report, run
from bench.load import PG_URL
from tests.pg import pg_unreachable, skip_without_pg

KINDS = ("deploy", "malformed json", "lone surrogate", "huge body", "wrong password", "nul search",
         "bad arguments")


@pytest.mark.slow
@pytest.mark.postgres
def test_hostile_requests_among_staff_get_no_5xx_and_lose_no_completion() -> None:
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): the hostile load did NOT happen")
    result = run(staff=10, hostile=2, seconds=10.0, max_requests=150, pause=0.05)
    print("\n" + report(result))
    assert result.server_errors == []
    assert all(any(key.startswith(kind) for key in result.hostile_statuses) for kind in KINDS), \
        result.hostile_statuses
    assert all(int(key.rsplit(" ", 1)[1]) in range(200, 500) for key in result.hostile_statuses), \
        result.hostile_statuses
    summary, books = result.summary, result.books
    assert summary["server_errors"] == 0 and summary["connection_errors"] == 0
    assert summary["unexpected"] == {}, summary["surprises"]
    assert books["lost"] == [] and books["doubled"] == [] and books["unacknowledged"] == []
    assert books["findings"] == []
    assert books["acknowledged"] == books["recorded"] > 0
