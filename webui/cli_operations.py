"""`bpm migrate-instances` and `bpm history archive|find`: moving cases between versions, retention."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from engine.actor import Actor
from engine.archive import archive_finished, find_case
from engine.errors import EngineError
from engine.instance_migration import MOVABLE, InstanceOutcome, MigrationRequest, migrate_instances
from engine.retention import RetentionPolicy, run_schedule

from .engine_ext import get_engine
from .extensions import db

# The command line acts as the administrator who runs it on the server.
CLI_ACTOR = Actor("cli", frozenset({"admin"}))


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise click.BadParameter(f"{pair!r} is not OLD=NEW", param_hint="--map")
        out[old] = new
    return out


def _moment(text: str, zone: str, param: str) -> datetime:
    """Parse a date or ISO time; without an offset it is local to the business calendar's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date like 2025-01-01 or an ISO time",
                                 param_hint=param) from exc
    if len(text) <= 10:
        moment = datetime.combine(moment.date(), time(0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


@click.command("migrate-instances")
@click.argument("process_key")
@click.option("--from", "from_version", type=click.IntRange(min=1), required=True, help="source version")
@click.option("--to", "to_version", type=click.IntRange(min=1), required=True, help="target version")
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW",
              help="map an element of the source to one of the target (repeatable); others keep their id")
@click.option("--instance", "instance_ids", type=click.IntRange(min=1), multiple=True,
              help="only this case (repeatable); default: every movable case of the source version")
@click.option("--status", type=click.Choice(MOVABLE), help="only cases in this status")
@click.option("--dry-run", is_flag=True, help="judge each case; change nothing")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@with_appcontext
def migrate_instances_command(process_key: str, from_version: int, to_version: int, pairs: tuple[str, ...],
                              instance_ids: tuple[int, ...], status: str | None, dry_run: bool,
                              as_json: bool) -> None:
    """Move running cases of PROCESS_KEY from one version to another, each in its own unit of work."""
    request = MigrationRequest(process_key, from_version, to_version, _mapping(pairs),
                               list(instance_ids) or None, None, status)

    def show(outcome: InstanceOutcome) -> None:
        if as_json:
            return
        verdict = ("moved" if outcome.moved else "can move") if outcome.can_move else "refused"
        click.echo(f"{outcome.instance_id:06d}: {verdict}")
        for reason in outcome.reasons:
            where = f"{reason['element_id']}: " if reason["element_id"] else ""
            click.echo(f"  - {where}{reason['message']}")

    try:
        report = migrate_instances(db.session(), request, CLI_ACTOR, dry_run=dry_run,
                                   calendar=get_engine().calendar, progress=show)
    except EngineError as exc:
        db.session.rollback()
        fields = getattr(exc, "fields", {})
        raise click.ClickException(exc.message + "".join(
            f"\n  {field}: {'; '.join(map(str, reasons))}" for field, reasons in fields.items())) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    done = "can move" if dry_run else "moved"
    click.echo(f"{report.to_dict()['movable'] if dry_run else report.moved} of {len(report.outcomes)} "
               f"case(s) {done}; {report.refused} refused")


@click.group("history")
def history_group() -> None:
    """Retention: archive finished cases and look them up in an archive."""


@history_group.command("archive")
@click.option("--finished-before", "before_text", required=True, metavar="DATE",
              help="archive cases that ended before this date or ISO time (no offset = the calendar's zone)")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def history_archive(before_text: str, path: Path) -> None:
    """Write finished cases to PATH (gzip JSON lines) and remove them from the live tables."""
    before = _moment(before_text, get_engine().calendar.timezone, "--finished-before")
    try:
        report = archive_finished(db.session(), path, before)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"archived {report.archived} case(s) to {path}; {report.held} kept live "
               "(the registers point at them)")


@history_group.command("find")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("case_number")
def history_find(path: Path, case_number: str) -> None:
    """Print an archived case (instance, history, tasks) by its case number."""
    if not case_number.isdigit():
        raise click.BadParameter(f"{case_number!r} is not a case number", param_hint="CASE_NUMBER")
    try:
        record = find_case(path, case_number)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    if record is None:
        raise click.ClickException(f"case {case_number} is not in {path}")
    click.echo(json.dumps(record, ensure_ascii=False, indent=2))


def register(group: click.Group) -> None:
    """Add the commands to `bpm`."""
    group.add_command(migrate_instances_command)
    group.add_command(history_group)


def start_retention(session_factory: Callable[[], Session], instance_path: str,
                    stop: threading.Event) -> threading.Thread | None:
    """Start the daily retention thread beside a timer worker when BPM_HISTORY_RETENTION_DAYS is set."""
    try:
        policy = RetentionPolicy.from_env(Path(instance_path) / "archive")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if policy is None:
        return None
    thread = threading.Thread(target=run_schedule, args=(session_factory, policy, stop),
                              name="bpm-retention", daemon=True)
    thread.start()
    return thread
