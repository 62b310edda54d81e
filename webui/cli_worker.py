"""`bpm worker` (the timer worker) and the embedded worker behind `bpm run --with-worker`.

Deployment: with SQLite (the embedded default) `bpm run --with-worker` runs one worker in a daemon
thread of the web process — SQLite wants a single writer anyway. With PostgreSQL run any number of
`bpm worker` processes beside the web servers; they share the work with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from engine.runtime import Engine
from engine.store.db import make_session_factory
from engine.worker import Worker, fire_due, next_due

from .cli_operations import start_retention
from .engine_ext import get_engine
from .extensions import db

log = logging.getLogger(__name__)


def parse_now(text: str, timezone: str) -> datetime:
    """Parse --now; a time without offset is local to the business calendar's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO time like 2026-11-23T10:15:00+08:00",
                                 param_hint="--now") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


@click.command("worker")
@click.option("--once", is_flag=True, help="Fire what is due now (or at --now) and exit.")
@click.option("--now", "now_text", metavar="ISO-TIME",
              help="With --once: fire what is due at this moment (no offset = the calendar's zone).")
@with_appcontext
def worker_command(once: bool, now_text: str | None) -> None:
    """Fire due timers (deadlines, escalations); runs until SIGTERM or Ctrl-C unless --once."""
    engine = Engine(calendar=get_engine().calendar)  # the app's calendar: BPM_CALENDAR_FILE in its config
    if now_text and not once:
        raise click.UsageError("--now only makes sense with --once")
    if once:
        now = parse_now(now_text, engine.calendar.timezone) if now_text else None
        fired = fire_due(db.new_session, engine, now=now)
        with db.new_session() as session:
            upcoming = next_due(session)
        click.echo(f"fired {fired}")
        click.echo(f"next due: {upcoming.isoformat() if upcoming else 'nothing waiting'}")
        return
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    worker = Worker(db.new_session, engine, db.engine)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        # Only sets flags: the unit of work in progress commits, then run_forever returns.
        log.info("signal %s: stopping after the current unit of work", signum)
        stop.set()
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if start_retention(db.new_session, current_app.instance_path, stop) is not None:
        click.echo("history retention: daily (BPM_HISTORY_RETENTION_DAYS)")
    click.echo(f"timer worker on {db.engine.url.render_as_string(hide_password=True)}")
    worker.run_forever(stop)
    click.echo(f"timer worker stopped; fired {worker.fired}")


def start_embedded_worker(app: Flask) -> tuple[Worker, threading.Thread, threading.Event]:
    """Run a Worker in a daemon thread of the web process (`bpm run --with-worker`)."""
    stop = threading.Event()
    with app.app_context():
        # A plain factory on the app's engine: Flask-SQLAlchemy's scoped session belongs to request
        # contexts, and the worker's units of work must not share one.
        worker = Worker(make_session_factory(db.engine), Engine(calendar=get_engine().calendar), db.engine)

    def _run() -> None:
        with app.app_context():
            worker.run_forever(stop)

    with app.app_context():
        start_retention(make_session_factory(db.engine), app.instance_path, stop)
    thread = threading.Thread(target=_run, name="bpm-timer-worker", daemon=True)
    thread.start()
    app.extensions["bpm_worker"] = worker
    return worker, thread, stop


def register(group: click.Group) -> None:
    """Add `bpm worker` to the command line."""
    group.add_command(worker_command)
