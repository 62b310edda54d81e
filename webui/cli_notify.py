"""`bpm notify add-webhook|list|test|disable`: manage where notifications go besides the in-app list."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from engine.errors import EngineError, InvalidData
from engine.notify import channels
from engine.notify.formats import FORMATS

from .cli import echo_table
from .extensions import db

notify = AppGroup("notify", help="Notification channels (webhooks) and test messages.")


def _refused(exc: EngineError) -> click.ClickException:
    if isinstance(exc, InvalidData):
        reasons = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in exc.fields.items())
        return click.ClickException(f"{exc.message}: {reasons}")
    return click.ClickException(exc.message)


@notify.command("add-webhook")
@click.argument("url")
@click.option("--role", "roles", multiple=True, help="Send notifications for this role (repeatable).")
@click.option("--user", "users", multiple=True, help="Send notifications for this user (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="generic", show_default=True,
              help="generic JSON, or the WeCom / DingTalk group-robot message.")
def add_webhook(url: str, roles: tuple[str, ...], users: tuple[str, ...], fmt: str) -> None:
    """Add a webhook; without --role/--user it receives every notification."""
    session = db.session()
    try:
        hook = channels.add_webhook(session, url, fmt=fmt, roles=roles, users=users, actor="cli",
                                    now=datetime.now(UTC))
    except EngineError as exc:
        session.rollback()
        raise _refused(exc) from exc
    session.commit()
    click.echo(f"webhook {hook.id} added ({fmt})")


@notify.command("list")
def list_channels() -> None:
    """List the webhooks with what they receive."""
    rows = [[str(c.id), c.format, "on" if c.active else "off", " ".join(c.roles or []) or "-",
             " ".join(c.users or []) or "-", c.url] for c in channels.list_channels(db.session())]
    db.session.rollback()
    if not rows:
        click.echo("no webhooks; add one with: bpm notify add-webhook URL [--role ROLE] [--format wecom]")
        return
    echo_table(["id", "format", "active", "roles", "users", "url"], rows)


@notify.command("test")
@click.argument("channel_id", type=int)
def test_channel(channel_id: int) -> None:
    """Queue a test message to one webhook; a running worker sends it."""
    session = db.session()
    try:
        note = channels.send_test(session, channel_id, actor="cli", now=datetime.now(UTC))
    except EngineError as exc:
        session.rollback()
        raise _refused(exc) from exc
    session.commit()
    click.echo(f"test notification {note.id} queued for webhook {channel_id}; `bpm worker` delivers it")


@notify.command("disable")
@click.argument("channel_id", type=int)
def disable(channel_id: int) -> None:
    """Switch a webhook off (its pending messages are dropped)."""
    session = db.session()
    try:
        channels.set_active(session, channel_id, False)
    except EngineError as exc:
        session.rollback()
        raise _refused(exc) from exc
    session.commit()
    click.echo(f"webhook {channel_id} switched off")


def register(group: click.Group) -> None:
    """Add `bpm notify` to the command line."""
    group.add_command(notify)
