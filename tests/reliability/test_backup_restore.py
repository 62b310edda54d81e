"""`bpm backup` and `bpm restore`: SQLite through the online backup API, PostgreSQL through pg_dump."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from engine.integrity import check_all
from engine.runtime import Actor, Engine
from engine.store.db import make_engine, make_session_factory
from engine.store.models import User
from tests.conftest import PG_URL, T0
from tests.pg import pg_unreachable, skip_without_pg
from tests.webui.conftest import make_app
from webui.cli import cli, load_extensions
from webui.extensions import db

from .first_release import dump_rows
from .scenario import KEY, Cases, open_task, populate

load_extensions()


def _people() -> dict[str, Actor]:
    return {u.username: Actor(u.username, u.role_ids) for u in db.session.scalars(select(User))}


def _fill(app: Flask) -> Cases:
    """Create the schema with `bpm init-db`, demo users and one instance in each state."""
    runner = app.test_cli_runner()
    for command in (["init-db"], ["demo"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 0, result.output
    with app.app_context():
        return populate(db.session, Engine(clock=lambda: T0), _people())


def _change_everything(app: Flask, cases: Cases) -> None:
    """Work on after the backup: finish a task, terminate a case, start a new one."""
    engine = Engine(clock=lambda: T0)
    with app.app_context():
        people = _people()
        session = db.session
        engine.complete(session, open_task(session, cases.advanced, "second").id, {"approved": False},
                        people["cs_manager"])
        engine.terminate(session, cases.waiting, people["admin"], "test")
        engine.start(session, KEY, {"unit": "C-3", "qty": 1}, people["cs_assistant"])
        session.commit()


def _rows(app: Flask) -> dict[str, list[dict[str, Any]]]:
    with app.app_context():
        return dump_rows(db.engine)


@pytest.fixture
def sqlite_app(tmp_path: Path, compiled_translations: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Yield an app on an empty SQLite file (no schema yet)."""
    app = make_app(f"sqlite:///{tmp_path}/live.sqlite", compiled_translations, tmp_path, monkeypatch)
    yield app
    db.dispose(app)


def test_sqlite_backup_and_restore_round_trip(sqlite_app: Flask, tmp_path: Path) -> None:
    cases = _fill(sqlite_app)
    runner = sqlite_app.test_cli_runner()
    saved = _rows(sqlite_app)
    backup = tmp_path / "backup.sqlite"
    result = runner.invoke(cli, ["backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert not Path(f"{backup}-wal").exists()  # one self-contained file
    _change_everything(sqlite_app, cases)
    assert _rows(sqlite_app) != saved
    result = runner.invoke(cli, ["restore", str(backup), "--yes"])
    assert result.exit_code == 0, result.output
    assert "bpm check: no findings" in result.output
    assert _rows(sqlite_app) == saved


def test_sqlite_backup_is_consistent_while_people_keep_working(sqlite_app: Flask, tmp_path: Path) -> None:
    _fill(sqlite_app)
    stop = threading.Event()
    started: list[int] = []

    def keep_starting() -> None:
        engine = Engine(clock=lambda: T0)
        with sqlite_app.app_context():
            actor = _people()["cs_assistant"]
            db.session.rollback()  # on SQLite every transaction holds the write lock (BEGIN IMMEDIATE)
            while not stop.is_set():
                session = db.new_session()
                try:
                    instance_id = engine.start(session, KEY, {"unit": "D-4", "qty": 1}, actor).id
                    session.commit()
                    started.append(instance_id)
                finally:
                    session.close()

    writer = threading.Thread(target=keep_starting)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(started) < 5 and writer.is_alive() and time.monotonic() < deadline:
            stop.wait(0.01)
        assert len(started) >= 5, "the writer did not get going"
        result = sqlite_app.test_cli_runner().invoke(cli, ["backup", str(tmp_path / "hot.sqlite")])
        assert result.exit_code == 0, result.output
    finally:
        stop.set()
        writer.join(30)
    bind = make_engine(f"sqlite:///{tmp_path}/hot.sqlite")
    with make_session_factory(bind)() as session:
        assert check_all(session) == []
        count = session.scalar(text("SELECT count(*) FROM process_instances"))
    bind.dispose()
    assert 6 + 5 <= count <= 6 + len(started)


def test_backup_never_overwrites_and_restore_refuses_foreign_files(sqlite_app: Flask, tmp_path: Path) -> None:
    _fill(sqlite_app)
    runner = sqlite_app.test_cli_runner()
    saved = _rows(sqlite_app)
    exists = tmp_path / "exists.sqlite"
    exists.write_bytes(b"keep me")
    result = runner.invoke(cli, ["backup", str(exists)])
    assert result.exit_code == 1 and "never overwrites" in result.output
    assert exists.read_bytes() == b"keep me"
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello", encoding="utf-8")
    other = tmp_path / "other.sqlite"
    bind = make_engine(f"sqlite:///{other}")
    with bind.begin() as conn:
        conn.execute(text("CREATE TABLE recipes (id INTEGER PRIMARY KEY)"))
    bind.dispose()
    for path, words in ((not_sqlite, "is not a SQLite database"), (other, "not a PropertyFlow backup")):
        result = runner.invoke(cli, ["restore", str(path), "--yes"])
        assert result.exit_code == 1 and words in result.output, result.output
    assert _rows(sqlite_app) == saved


@pytest.fixture
def pg_app(tmp_path: Path, compiled_translations: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Yield an app on a fresh PostgreSQL schema (skips loudly without server or client tools)."""
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): PostgreSQL backup NOT tested")
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        skip_without_pg(f"{' and '.join(missing)} NOT INSTALLED: PostgreSQL backup/restore NOT tested")
    schema = f"bpm_b_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    app = make_app(f"{PG_URL}?options=-csearch_path%3D{schema}", compiled_translations, tmp_path, monkeypatch)
    try:
        yield app
    finally:
        db.dispose(app)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_postgresql_backup_and_restore_round_trip(pg_app: Flask, tmp_path: Path) -> None:
    cases = _fill(pg_app)
    runner = pg_app.test_cli_runner()
    saved = _rows(pg_app)
    backup = tmp_path / "backup.dump"
    result = runner.invoke(cli, ["backup", str(backup)])
    assert result.exit_code == 0, result.output
    _change_everything(pg_app, cases)
    assert _rows(pg_app) != saved
    result = runner.invoke(cli, ["restore", str(backup), "--yes"])
    assert result.exit_code == 0, result.output
    assert "bpm check: no findings" in result.output
    assert _rows(pg_app) == saved
    # The restored sequences continue after the restored rows.
    _change_everything(pg_app, cases)
