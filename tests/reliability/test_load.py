"""The quick load run of bench/load.py: staff work the inbox through gunicorn on PostgreSQL for 10 s."""

from __future__ import annotations

import pytest

from bench.load import PG_URL, report, run
from tests.pg import pg_unreachable, skip_without_pg


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_load_has_no_5xx_and_no_lost_or_doubled_completion() -> None:
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): the load run did NOT happen")
    result = run(staff=20, seconds=10.0)
    print("\n" + report(result))
    summary, books = result.summary, result.books
    assert summary["server_errors"] == 0 and summary["connection_errors"] == 0
    assert summary["unexpected"] == {}
    assert books["lost"] == [] and books["doubled"] == [] and books["unacknowledged"] == []
    assert books["findings"] == []
    assert books["acknowledged"] == books["recorded"] > 0
