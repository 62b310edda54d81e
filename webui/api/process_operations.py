"""Running a process for years: move cases between versions, and see where time goes per element."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from marshmallow import Schema, fields, validate

from department.roles import ADMIN, PROCESS_OWNER
from engine.errors import EngineError
from engine.instance_migration import MOVABLE, MigrationRequest, migrate_instances
from engine.process_statistics import version_statistics
from engine.store import queries

from ..engine_ext import actor, get_engine, local_zone, now
from ..extensions import db
from .common import ApiBlueprint, fail, http_error, read, require_roles
from .schemas import FIRST_DAY, KEY_RE, LAST_DAY, MAX_ID, UtcDateTime

blp = ApiBlueprint("process-operations", __name__, url_prefix="/api/v1/process-definitions",
                   description="Moving running cases to another version in batches; per-element statistics.")

KEY_RULE = "/<string(minlength=1, maxlength=64):key>"
MAX_BATCH = 10_000
_ELEMENT = fields.String(validate=validate.Length(min=1, max=128))


class MigrationFilterIn(Schema):
    """Which cases of the source version move when no ids are given."""

    status = fields.String(validate=validate.OneOf(MOVABLE), load_default=None)
    started_before = fields.AwareDateTime(load_default=None)


class MigrationIn(Schema):
    """A batch migration request."""

    dry_run = fields.Boolean(load_default=True, metadata={"description": "only judge each case (default)"})
    from_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    to_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    mapping = fields.Dict(keys=_ELEMENT, values=_ELEMENT, load_default=dict,
                          validate=validate.Length(max=500),
                          metadata={"description": "element in from_version → element in to_version; "
                                                   "elements not named map to the same id"})
    instance_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
                               load_default=None, validate=validate.Length(min=1, max=MAX_BATCH))
    filter = fields.Nested(MigrationFilterIn, load_default=None)


class ReasonOut(Schema):
    element_id = fields.String(required=True)
    message = fields.String(required=True)


class InstanceVerdictOut(Schema):
    instance_id = fields.Integer(required=True)
    can_move = fields.Boolean(required=True)
    moved = fields.Boolean(required=True)
    moves = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    reasons = fields.List(fields.Nested(ReasonOut), required=True)


class MigrationOut(Schema):
    """Per case: whether it can move (dry run) or moved, and why not."""

    process_key = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    dry_run = fields.Boolean(required=True)
    total = fields.Integer(required=True)
    movable = fields.Integer(required=True)
    moved = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    instances = fields.List(fields.Nested(InstanceVerdictOut), required=True)


class StatisticsArgs(Schema):
    """The version (default: newest) and the days its cases started (calendar's zone, both included)."""

    version = fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    from_ = fields.Date(data_key="from", attribute="from", validate=validate.Range(FIRST_DAY, LAST_DAY),
                        metadata={"description": "first day (default: 30 days before to)"})
    to = fields.Date(validate=validate.Range(FIRST_DAY, LAST_DAY),
                     metadata={"description": "last day, included (default: today)"})


class DurationOut(Schema):
    count = fields.Integer(required=True)
    median_s = fields.Float(required=True, allow_none=True)
    p90_s = fields.Float(required=True, allow_none=True)


class ElementStatsOut(Schema):
    element_id = fields.String(required=True)
    count = fields.Integer(required=True)
    cases = fields.Integer(required=True)
    case_share = fields.Float(required=True, allow_none=True)
    waiting = fields.Nested(DurationOut, required=True)
    working = fields.Nested(DurationOut, required=True)


class PathOut(Schema):
    gateway = fields.String(required=True)
    target = fields.String(required=True)
    count = fields.Integer(required=True)
    share = fields.Float(required=True, allow_none=True)


class StatisticsOut(Schema):
    """Per element: passes, cases, waiting and working time (seconds); per gateway branch: shares."""

    process_key = fields.String(required=True)
    version = fields.Integer(required=True)
    from_ = UtcDateTime(data_key="from", attribute="from", required=True)
    to = UtcDateTime(required=True)
    cases = fields.Integer(required=True)
    elements = fields.List(fields.Nested(ElementStatsOut), required=True)
    paths = fields.List(fields.Nested(PathOut), required=True)


def _key(key: str) -> str:
    if not KEY_RE.fullmatch(key):
        fail(404, "not_found", f"process '{key[:64]}' is not deployed")
    return key


@blp.route(KEY_RULE + "/migrations", methods=["POST"])
@blp.arguments(MigrationIn)
@blp.response(200, MigrationOut)
def migrate(body: dict[str, Any], key: str) -> dict[str, Any]:
    """Move running (or suspended) cases from one version to another, or judge them (`dry_run`, default).

    Elements map to the same id unless `mapping` says otherwise; a case waiting at an element the
    target lacks is refused with the reason. Without `instance_ids`, every movable case of
    `from_version` (narrowed by `filter`) is taken. A real run moves each case in its own unit of work,
    keeps its open tasks' ids, assignees and deadlines, and records a `migrated` history entry.
    Admins and process owners only.
    """
    who = actor()
    require_roles(who, (ADMIN, PROCESS_OWNER), "migrating instances")
    flt = body.get("filter") or {}
    request = MigrationRequest(_key(key), body["from_version"], body["to_version"], dict(body["mapping"]),
                               body.get("instance_ids"), flt.get("started_before"), flt.get("status"))
    try:
        report = migrate_instances(db.session(), request, who, dry_run=body["dry_run"],
                                   calendar=get_engine().calendar, now=now())
    except EngineError as exc:
        db.session.rollback()
        raise http_error(exc) from exc
    return report.to_dict()


@blp.route(KEY_RULE + "/statistics")
@blp.arguments(StatisticsArgs, location="query")
@blp.response(200, StatisticsOut)
def statistics(args: dict[str, Any], key: str) -> dict[str, Any]:
    """Per element of a version: count, median and p90 waiting and working time, and path shares.

    Measured over the version's cases started on the days from..to (both included, in the business
    calendar's time zone). Admins, managers and process owners.
    """
    who = actor()
    if not queries.may_observe(who):
        require_roles(who, (PROCESS_OWNER,), "process statistics")
    key = _key(key)
    version = args.get("version")
    if version is None:
        version = read(lambda: queries.latest_version(db.session(), key)).version
    zone = local_zone()
    last = args.get("to", now().astimezone(zone).date())
    first = args.get("from", last - timedelta(days=30))
    if last < first:
        fail(422, "invalid_data", "the period ends before it starts", {"to": ["must not be before 'from'"]})
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    out = read(lambda: version_statistics(db.session(), key, version, start, end)).to_dict()
    out["from"], out["to"] = start, end
    return out
