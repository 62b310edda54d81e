"""Pages for running a process for years: per-element statistics with a heatmap, batch migration."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from department.roles import ADMIN, PROCESS_OWNER
from engine.errors import EngineError, InvalidData
from engine.instance_migration import MigrationReport, MigrationRequest, migrate_instances
from engine.process_statistics import version_statistics
from engine.store import queries

from .auth import roles_required
from .engine_ext import actor, get_engine, local_zone, now
from .extensions import db
from .instances import template_helpers

bp = Blueprint("operations", __name__)
bp.context_processor(template_helpers)

EDITORS = (PROCESS_OWNER, ADMIN)


def _day(name: str, default: date) -> date:
    """Read a yyyy-mm-dd query argument, 400 when it is not a date."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        abort(400, description=f"{name}: {text!r} is not a date like 2026-11-01")


@bp.get("/models/<key>/versions/<int:number>/statistics")
@roles_required(*EDITORS)
def statistics(key: str, number: int) -> str:
    """Show where time goes in one version: a table per element and a heatmap on the diagram."""
    version = queries.version_by_number(db.session(), key, number)
    if version is None:
        abort(404)
    zone = local_zone()
    last = _day("to", now().astimezone(zone).date())
    first = _day("from", last - timedelta(days=30))
    if last < first:
        first, last = last, first
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    stats = version_statistics(db.session(), key, number, start, end).to_dict()
    titles = {eid: t for eid, t in (version.model or {}).get("tasks", {}).items()}
    return render_template("operations/statistics.html", v=version, stats=stats, first=first, last=last,
                           titles=titles)


def _mapping(text: str) -> tuple[dict[str, str], list[str]]:
    """Parse one OLD=NEW per line; return the mapping and the lines refused."""
    mapping: dict[str, str] = {}
    bad: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        old, sep, new = line.partition("=")
        if not sep or not old.strip() or not new.strip():
            bad.append(line)
        else:
            mapping[old.strip()] = new.strip()
    return mapping, bad


def _ids(text: str) -> tuple[list[int] | None, list[str]]:
    """Parse case numbers separated by spaces or commas; None when empty."""
    words = text.replace(",", " ").split()
    bad = [w for w in words if not w.isdigit() or int(w) < 1]
    return ([int(w) for w in words if w not in bad] or None), bad


@bp.route("/models/<key>/migrate", methods=["GET", "POST"])
@roles_required(*EDITORS)
def migrate(key: str) -> str | tuple[str, int]:
    """Move running cases between versions: a dry run shows per case whether it can move and why not."""
    processes = [p for p in queries.process_list(db.session()) if p["key"] == key]
    if not processes:
        abort(404)
    versions = [v["version"] for v in processes[0]["versions"]]
    form: dict[str, Any] = {"from_version": min(versions), "to_version": max(versions), "mapping": "",
                            "instance_ids": ""}
    report: MigrationReport | None = None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form.update({k: request.form.get(k, "") for k in ("from_version", "to_version", "mapping",
                                                          "instance_ids")})
        mapping, bad_lines = _mapping(form["mapping"])
        ids, bad_ids = _ids(form["instance_ids"])
        if bad_lines:
            errors["mapping"] = [_("Write one OLD=NEW per line: %(lines)s", lines=", ".join(bad_lines))]
        if bad_ids:
            errors["instance_ids"] = [_("Not a case number: %(words)s", words=", ".join(bad_ids))]
        for name in ("from_version", "to_version"):
            if not str(form[name]).isdigit():
                errors[name] = [_("Choose a version")]
        if not errors:
            dry_run = request.form.get("action") != "migrate"
            request_ = MigrationRequest(key, int(form["from_version"]), int(form["to_version"]), mapping, ids)
            try:
                report = migrate_instances(db.session(), request_, actor(), dry_run=dry_run,
                                           calendar=get_engine().calendar, now=now())
            except InvalidData as exc:
                db.session.rollback()
                errors = {k: [str(m) for m in v] for k, v in exc.fields.items()}
            except EngineError as exc:
                db.session.rollback()
                errors = {"form": [exc.message]}
    status = 422 if errors else 200
    page = render_template("operations/migrate.html", key=key, process=processes[0], versions=versions,
                           form=form, report=report, errors=errors)
    return (page, status) if errors else page
