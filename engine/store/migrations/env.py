"""Alembic environment: the product's models, batch mode on SQLite, the caller's connection."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from engine.store.db import default_database_url, make_engine
from engine.store.models import Base, UTCDateTime

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render the model's UTC datetime as a plain column type, so scripts never import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Any) -> None:
    """Run the migrations on one connection."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    # Plain `alembic` on the command line: the database bpm itself would use.
    bind = make_engine(default_database_url())
    with bind.begin() as conn:
        run_migrations(conn)
    bind.dispose()
