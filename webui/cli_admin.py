"""`bpm check`, `bpm backup`, `bpm restore`, `bpm migrate`: the operator's data-safety commands."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote

import click
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.engine import URL

from engine.integrity import check_all, check_instance
from engine.store import migrations, queries

from .cli import cli
from .extensions import db

# Tables a backup must contain to be restorable (a stray SQLite file is refused, nothing changes).
REQUIRED_TABLES = {"process_instances", "process_versions", "tasks", "history", "users"}


@cli.command("check")
@click.option("--instance", "instance_id", type=int, help="Check one instance only.")
def check(instance_id: int | None) -> None:
    """Verify stored state, inbox, history, wake-ups and registers agree; exit 1 on any mismatch."""
    session = db.session()
    if instance_id is not None:
        findings = check_instance(session, instance_id)
        checked = 1
    else:
        findings = check_all(session)
        checked = queries.count_instances(session)
    session.rollback()
    for finding in findings:
        click.echo(str(finding))
    if findings:
        raise click.ClickException(f"{len(findings)} finding(s) in {checked} instance(s)")
    click.echo(f"{checked} instance(s) checked: no findings")


@cli.command("migrate")
def migrate() -> None:
    """Upgrade the database schema to the newest revision (safe to repeat)."""
    try:
        click.echo(migrations.init_database(db.engine))
    except migrations.SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def backup(path: Path) -> None:
    """Write a consistent copy of the database to PATH while the app keeps running."""
    bind = db.engine
    if path.exists():
        raise click.ClickException(f"{path} exists; choose a new file (a backup never overwrites)")
    if bind.dialect.name == "sqlite":
        _sqlite_backup(_sqlite_file(bind), path)
    elif bind.dialect.name == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", *_pg_schema_args(bind.url),
              f"--file={path}", _libpq_url(bind.url)])
    else:
        raise click.ClickException(f"no backup method for {bind.dialect.name}")
    click.echo(f"backup written: {path} ({path.stat().st_size} bytes)")


@cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask; the current data is replaced.")
def restore(path: Path, yes: bool) -> None:
    """Replace the database with a backup (stop the web server and worker first)."""
    bind = db.engine
    if bind.dialect.name == "sqlite":
        _check_sqlite_backup(path)
    if not yes:
        click.confirm(f"Replace every row of {bind.url.render_as_string(hide_password=True)} with {path}?",
                      abort=True)
    if bind.dialect.name == "sqlite":
        bind.dispose()  # no pooled connection may hold the old pages
        _sqlite_backup(path, _sqlite_file(bind), restoring=True)
    elif bind.dialect.name == "postgresql":
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", f"--dbname={_libpq_url(bind.url)}", str(path)])
    else:
        raise click.ClickException(f"no restore method for {bind.dialect.name}")
    bind.dispose()
    click.echo(f"restored from {path}; {migrations.init_database(bind)}")
    findings = check_all(db.session())
    db.session.rollback()
    for finding in findings:
        click.echo(str(finding))
    if findings:
        raise click.ClickException(f"the restored database has {len(findings)} finding(s)")
    click.echo("bpm check: no findings")


def _sqlite_file(bind: SqlEngine) -> Path:
    """Return the database file of a SQLite engine."""
    name = bind.url.database
    if not name or name == ":memory:":
        raise click.ClickException("an in-memory database cannot be backed up or restored")
    return Path(name)


def _sqlite_backup(source: Path, target: Path, *, restoring: bool = False) -> None:
    """Copy a SQLite database page by page with the online backup API (consistent under writers)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
        if not restoring:
            # A backup is one self-contained file: no -wal/-shm beside it, readable read-only.
            dst.execute("PRAGMA journal_mode=DELETE")
        status = dst.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        src.close()
        dst.close()
    if status != "ok":
        raise click.ClickException(f"integrity check of {target} failed: {status}")


def _check_sqlite_backup(path: Path) -> None:
    """Refuse a file that is not an intact SQLite database with this product's tables."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            status = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"{path} is not a SQLite database: {exc}") from exc
    if status != "ok":
        raise click.ClickException(f"{path} is damaged: {status}")
    missing = REQUIRED_TABLES - tables
    if missing:
        raise click.ClickException(f"{path} is not a PropertyFlow backup (missing tables: "
                                   f"{', '.join(sorted(missing))})")


def _libpq_url(url: URL) -> str:
    """Return the URL libpq tools understand (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_schema_args(url: URL) -> list[str]:
    """Limit pg_dump to the schema a `?options=-csearch_path=NAME` URL works in, if any."""
    options = unquote(str(url.query.get("options", "")))
    for part in options.split():
        part = part.removeprefix("-c")
        if part.startswith("search_path="):
            return [f"--schema={name.strip()}" for name in part.split("=", 1)[1].split(",") if name.strip()]
    return []


def _run(command: list[str]) -> None:
    """Run a PostgreSQL client tool, failing clearly when it is missing or fails."""
    if shutil.which(command[0]) is None:
        raise click.ClickException(f"{command[0]} not found: install the PostgreSQL client tools "
                                   "(Debian: apt-get install postgresql-client)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")
