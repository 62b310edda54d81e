"""`bpm tokens create|list|revoke`: personal API tokens for scripts (the secret is printed once)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from engine.api_tokens import create_token, list_tokens, revoke_token
from engine.users import UserInputError

from .cli import _fail, cli, echo_table
from .extensions import db


@cli.group("tokens")
def tokens() -> None:
    """Manage personal API tokens (Authorization: Bearer)."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What uses the token, e.g. 'nightly export'.")
def tokens_create(username: str, name: str) -> None:
    """Create a token for USERNAME and print its secret (shown this once only)."""
    try:
        view, secret = create_token(db.session(), username, name, datetime.now(UTC))
    except UserInputError as exc:
        raise _fail(str(exc)) from exc
    db.session.commit()
    click.echo(f"token {view.id} ({view.name}) for {view.username}; keep this secret, it is not shown again:")
    click.echo(secret)


@tokens.command("list")
@click.argument("username", required=False)
def tokens_list(username: str | None) -> None:
    """List tokens (of USERNAME, or everyone's), never their secrets."""
    def when(moment: datetime | None) -> str:
        return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"

    echo_table(["id", "user", "name", "starts", "created", "last used", "status"],
               [[str(t.id), t.username, t.name, t.prefix + "…", when(t.created_at), when(t.last_used_at),
                 "active" if t.active else f"revoked {when(t.revoked_at)}"]
                for t in list_tokens(db.session(), username)])


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token: calls with it are refused from now on."""
    if not revoke_token(db.session(), token_id, datetime.now(UTC)):
        raise _fail(f"no active token with id {token_id}")
    db.session.commit()
    click.echo(f"token {token_id} revoked")
