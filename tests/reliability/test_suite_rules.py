"""The suite's rules: under CI=true a missing prerequisite fails the run; PostgreSQL tests are marked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import skip_or_fail_in_ci

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
BOGUS_PG = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # port 1: refused at once on loopback


def run_pytest(tmp_path: Path, *args: str, ci: bool,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run pytest in a subprocess against an unreachable PostgreSQL; return what it printed."""
    env = {**os.environ, "BPM_TEST_PG_URL": BOGUS_PG, "CI": "true" if ci else "false", **(env or {})}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--basetemp", str(tmp_path / "base"), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def test_the_foreign_corpus_is_present() -> None:
    if not (CORPUS / "miwg").is_dir() or not any((CORPUS / "miwg").glob("*.bpmn")):
        skip_or_fail_in_ci(f"foreign corpus not found at {CORPUS / 'miwg'}: foreign diagrams were NOT tested")


def test_a_missing_postgresql_fails_the_run_under_ci_instead_of_skipping(tmp_path: Path) -> None:
    # On two pytest-xdist workers, as `make test` runs: a failure in a worker must reach the summary.
    targets = ("-n", "2", "tests/engine/test_users_pg.py", "tests/engine/test_worker_pg.py")
    relaxed = run_pytest(tmp_path, *targets, ci=False)
    summary = relaxed.stdout.strip().splitlines()[-1]
    assert relaxed.returncode == 0 and "skipped" in summary and "failed" not in summary, relaxed.stdout
    strict = run_pytest(tmp_path, *targets, ci=True)
    summary = strict.stdout.strip().splitlines()[-1]
    assert strict.returncode == 1 and "skipped" not in summary, strict.stdout
    assert "CI=true: POSTGRESQL UNREACHABLE" in strict.stdout


def test_a_missing_chromium_fails_the_run_under_ci_instead_of_skipping(tmp_path: Path) -> None:
    # The whole tree, as `make test` collects it: a conftest named on the command line loads too early.
    target = ("-n", "0", "tests", "-k", "test_admin_flows")
    absent = {"BPM_TEST_CHROMIUM": str(tmp_path / "no-chromium")}
    relaxed = run_pytest(tmp_path, *target, ci=False, env=absent)
    summary = relaxed.stdout.strip().splitlines()[-1]
    # 5: the skipped folder was all that -k selected, so pytest collected no test to run.
    assert relaxed.returncode == 5 and "skipped" in summary and "error" not in summary, relaxed.stdout
    strict = run_pytest(tmp_path, *target, ci=True, env=absent)
    assert strict.returncode != 0 and "skipped" not in strict.stdout.strip().splitlines()[-1], strict.stdout
    assert "CI=true: " in strict.stdout and "the browser tests were NOT run" in strict.stdout, strict.stdout


def test_a_postgresql_test_without_the_marker_fails(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    # Star-importing the real conftest brings its hooks; the test reaches for PostgreSQL unmarked.
    (suite / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n"
                                       "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    (suite / "test_unmarked.py").write_text(
        "import pytest\n"
        "from tests.pg import pg_schema  # noqa: F401\n\n"
        "def test_unmarked(pg_schema):\n    pass\n\n"
        "@pytest.mark.postgres\n"
        "def test_marked(pg_schema):\n    pass\n")
    result = run_pytest(tmp_path, str(suite), "--rootdir", str(suite), "-rA", ci=False)
    assert result.returncode == 1, result.stdout
    assert "test_unmarked.py::test_unmarked uses PostgreSQL but lacks @pytest.mark.postgres" in result.stdout
    assert "lacks" not in "".join(line for line in result.stdout.splitlines() if "test_marked" in line)


def test_every_postgresql_test_is_selected_by_the_marker(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "tests/engine", "tests/processes", "tests/api", "tests/reliability",
                        "--collect-only", "-m", "postgres", ci=False)
    collected = result.stdout
    for name in ("test_worker_pg.py", "test_users_pg.py", "test_fuzz_pg.py", "test_statements_per_step.py",
                 "test_migrations.py", "test_crash.py", "test_races.py", "test_backup_restore.py"):
        assert name in collected, (name, collected[-2000:])
