"""`bpm demo-keys`: a few sealed units and kept keys in the key register, put there by its processes."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from department import keys
from engine.runtime import SYSTEM, Actor
from engine.store import queries
from engine.users import get_user

from .engine_ext import get_engine
from .extensions import db

# (unit, seal number) of the demo's sealed units, and the vacant-unit and plant-room keys taken in.
SEALED_UNITS = (("15F-1501", "F-000123"), ("16F-1602", "F-000187"), ("18F-1805", "F-000231"))
TAKEN_IN = (("12F-1203", "unit", "cs_assistant"), ("B1-配电房", "plant_room", "engineering_dispatcher"),
            ("保安总钥匙-A", "master", "security_guard"))


def _actor(username: str) -> Actor:
    user = get_user(db.session(), username)
    if user is None:
        raise click.ClickException(f"demo user {username!r} is missing: run `bpm demo` first")
    return Actor(username, user.role_ids)


def _walk(key: str, start: dict[str, Any], starter: str, steps: list[tuple[str, str, dict[str, Any]]]) -> int:
    """Start an instance and complete its tasks in order as the named users, one unit of work each."""
    engine, session = get_engine(), db.session()
    inst = engine.start(session, key, start, _actor(starter))
    session.commit()
    for name, who, data in steps:
        page = queries.list_tasks(session, SYSTEM, engine.clock(), scope="all", instance_id=inst.id,
                                  with_forms=False)
        [task_id] = [t.id for t in page.items if t.name == name]
        engine.complete(session, task_id, data, _actor(who))
        session.commit()
    return inst.id


@click.command("demo-keys")
@with_appcontext
def demo_keys() -> None:
    """Put a few sealed units and kept keys into the key register through key_custody (idempotent)."""
    session = db.session()
    for unit, seal in SEALED_UNITS:
        if keys.state(session, unit) != keys.NONE:
            continue
        start = {"unit": unit, "movement": "move_in", "customer_name": "演示业户"}
        _walk("key_custody", start, "cs_assistant", [
            ("handover_keys", "cs_assistant", {
                "handover_form_number": f"JJ-{unit}", "unit_inspected": True, "keys_handed_over": 3,
                "keys_in_custody": 1, "custody_agreement_reference": f"TG-{unit}",
                "customer_signature": "演示业户"}),
            ("seal_keys", "cs_assistant", {"seal_number": seal, "witness": "cs_assistant2"}),
            ("manager_sign", "cs_manager", {"sign_note": "演示数据"}),
        ])
        click.echo(f"{unit}: sealed under {seal}")
    for key_id, kind, keeper in TAKEN_IN:
        if keys.state(session, key_id) != keys.NONE:
            continue
        intake = {"unit": key_id, "movement": "intake", "key_kind": kind, "customer_name": "发展商"}
        _walk("key_custody", intake, keeper,
              [("receive_keys", keeper, {"key_count": 2, "keys_labelled": True})])
        click.echo(f"{key_id}: in custody of {keeper}")


def register(group: click.Group) -> None:
    """Add the command to `bpm`."""
    group.add_command(demo_keys)
