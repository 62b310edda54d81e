"""The quick load run of bench/load.py: staff work the inbox through gunicorn on PostgreSQL for 10 s."""

from __future__ import annotations

from pathlib import Path

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


def test_a_server_whose_port_was_taken_starts_on_another_and_answers_there(tmp_path: Path) -> None:
    import socket

    import requests

    from bench.load import Service, fresh_database, prepare

    with fresh_database("sqlite", tmp_path) as url, socket.socket() as squatter:
        prepare(url, {"cs_assistant": "cs_assistant"})
        # Another process's server took the port between picking it and binding it.
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        service = Service("dev", url, tmp_path, port=taken)
        try:
            service.start()
            assert service.port != taken
            assert requests.get(f"{service.base}/login", timeout=10).status_code == 200
        finally:
            service.stop()
