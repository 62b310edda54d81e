"""The `bpm` command line: database, web server, users and demo data.

Other modules add commands to the same group: they `from webui.cli import cli` and decorate
with `@cli.command()` (the command then runs inside an app context, so `db.session()` works),
or define `register(cli)`. List such modules in EXTENSION_MODULES; they are imported when the
command line starts.
"""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from department.roles import ROLES
from engine.store.migrations import SchemaMismatch, current_revision, init_database
from engine.users import (
    UserInputError,
    create_user,
    ensure_demo_users,
    get_user,
    list_accounts,
    set_password,
    unlock,
)

from .extensions import db

EXTENSION_MODULES: tuple[str, ...] = ("webui.cli_engine", "webui.cli_worker", "webui.cli_admin",
                                      "webui.cli_tokens", "webui.cli_keys", "webui.cli_notify",
                                      "webui.cli_operations")

cli = AppGroup("bpm", help="PropertyFlow: property-management service workflows.")
# Commands that make, replace or copy the schema themselves (or never touch the database).
SCHEMA_FREE_COMMANDS = frozenset({"init-db", "migrate", "restore", "backup"})


def _is_embedded(app: Flask) -> bool:
    """Tell whether the app uses the SQLite file it creates itself in its instance folder."""
    default = f"sqlite:///{Path(app.instance_path).resolve() / 'bpm.sqlite'}"
    return bool(app.config.get("BPM_DATABASE_URL") == default)


def _ensure_schema(ctx: click.Context) -> None:
    """Before a command: create the embedded database's schema, or say in one line what to run."""
    if ctx.invoked_subcommand in SCHEMA_FREE_COMMANDS or "--help" in ctx.meta.get("bpm.argv", ()):
        return
    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context():
        where = db.engine.url.render_as_string(hide_password=True)
        try:
            initialised = current_revision(db.engine) is not None or bool(
                inspect(db.engine).get_table_names())
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise _fail(f"cannot reach the database {where}: {reason}") from exc
        if initialised:
            return
        if not _is_embedded(app):
            raise _fail(f"the database {where} has no schema yet: run `bpm init-db` first")
        click.echo(f"created the embedded database: {init_database(db.engine)}", err=True)


cli.callback = click.pass_context(_ensure_schema)
_parse_args = cli.parse_args


def _remember_argv(ctx: click.Context, args: list[str]) -> list[str]:
    """Keep the raw arguments: the group's callback runs before a subcommand reads its --help."""
    ctx.meta["bpm.argv"] = tuple(args)
    return _parse_args(ctx, args)


cli.parse_args = _remember_argv  # type: ignore[method-assign]


def _fail(message: str) -> click.ClickException:
    """Return the error to raise for bad input (prints 'Error: …' and exits with 1)."""
    return click.ClickException(message)


def _width(text: str) -> int:
    # Chinese characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows as aligned columns (aware of double-width Chinese characters)."""
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    click.echo(line(headers))
    click.echo(line(["-" * w for w in widths]))
    for row in rows:
        click.echo(line(row))


@cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema with Alembic (safe to repeat)."""
    try:
        done = init_database(db.engine)
    except SchemaMismatch as exc:
        raise _fail(str(exc)) from exc
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)} ({done})")


@cli.command("run", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--with-worker", is_flag=True,
              help="Also run the timer worker (deadlines, escalations) in this process.")
@click.pass_context
def run(ctx: click.Context, host: str, port: int, with_worker: bool) -> None:
    """Serve the web app (development server; use gunicorn 'webui:create_app()' for production)."""
    app = ctx.ensure_object(ScriptInfo).load_app()
    app.config["BPM_RUN_WITH_WORKER"] = with_worker
    if with_worker:
        from .cli_worker import start_embedded_worker

        start_embedded_worker(app)
    click.echo(f"PropertyFlow on http://{host}:{port}/")
    from .security import PlainServerHandler

    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True,
            request_handler=PlainServerHandler)


@cli.group("users")
def users() -> None:
    """Manage staff accounts."""


def _role_help() -> str:
    return "Role id (repeatable): " + ", ".join(ROLES)


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help=_role_help())
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters; asked for when omitted.")
@click.option("--display-name", default="", help="Name shown in the UI (default: the username).")
def users_create(username: str, roles: tuple[str, ...], password: str, display_name: str) -> None:
    """Create a user holding one or more roles."""
    try:
        create_user(db.session(), username, password, roles, display_name=display_name)
    except UserInputError as exc:
        raise _fail(str(exc)) from exc
    db.session.commit()
    click.echo(f"created {username} ({', '.join(dict.fromkeys(roles))})")


@users.command("list")
def users_list() -> None:
    """List users with their roles."""
    rows = []
    for user in list_accounts(db.session()):
        status = "active" if user.active else "inactive"
        if user.locked_until is not None:
            status += f", locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
        rows.append([user.username, user.display_name, " ".join(sorted(user.roles)), status])
    echo_table(["username", "name", "roles", "status"], rows)


@users.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters; asked for when omitted.")
def users_set_password(username: str, password: str) -> None:
    """Set a user's password (this also lifts a sign-in lock)."""
    user = get_user(db.session(), username)
    if user is None:
        raise _fail(f"no user named {username!r}")
    try:
        set_password(user, password)
    except UserInputError as exc:
        raise _fail(str(exc)) from exc
    db.session.commit()
    click.echo(f"password of {username} changed")


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """Lift the lock set after too many failed sign-ins."""
    if not unlock(db.session(), username):
        raise _fail(f"no user named {username!r}")
    db.session.commit()
    click.echo(f"{username} unlocked")


@cli.command("demo")
def demo() -> None:
    """Create one demo user per role (idempotent) and print how to sign in."""
    accounts = ensure_demo_users(db.session(), must_change_password=True)
    db.session.commit()
    click.echo("Demo users (existing accounts are left as they are). These passwords are public: each "
               "account must choose a new password at its first sign-in, and the API refuses it until then.")
    echo_table(["username", "password", "roles"],
               [[name, password, " ".join(roles)] for name, password, roles in accounts])


def load_extensions(group: click.Group = cli) -> None:
    """Import the modules that add commands to the group."""
    for name in EXTENSION_MODULES:
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if callable(register):
            register(group)


def _create_app_for_cli() -> Flask:
    from . import create_app

    return create_app()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the `bpm` console script."""
    load_extensions()
    cli.main(args=list(argv) if argv is not None else None, prog_name="bpm",
             obj=ScriptInfo(create_app=_create_app_for_cli, set_debug_flag=False))
