"""Print views of the paper records the rule books name, laid out for A4, signing and archiving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from department import registers, services
from department.roles import ADMIN, FOREMAN_OR_ABOVE
from engine.errors import Forbidden, NotFound
from engine.store import queries

from .auth import roles_required
from .case_view import CaseModel
from .display import case_number, display_names, local_time, person, pick
from .engine_ext import actor, local_zone, now
from .extensions import db
from .notes_pages import case_notes
from .registers_pages import with_unit

bp = Blueprint("records", __name__)

# Process key → the record's template; each names its paper form in the rule books' words.
RECORD_TEMPLATES = {
    "repair_dispatch": "records/work_order.html",
    "complaint_handling": "records/complaint.html",
    "sealed_key_usage": "records/sealed_key.html",
    "hazardous_goods_issuance": "records/hazard_issue.html",
    "service_quality_anomaly": "records/anomaly_ticket.html",  # 異常處理單 (issue 14)
}
# Who may print the whole register: as for the registers area (the cabinet's key holder and
# foreman or above, who approve and issue; management and admins who check it).
REGISTER_ROLES = (frozenset({ADMIN, "cleaning_foreman", "general_manager", "project_manager"})
                  | FOREMAN_OR_ABOVE)
# The register's paper columns (engine.registers.HAZARD_COLUMNS) in the active language.
COLUMN_LABELS = {
    "日期": _l("Date"), "时间": _l("Time"), "品名": _l("Item"), "类别": _l("Entry"), "数量": _l("Quantity"),
    "结存": _l("Balance"), "用途": _l("Purpose"), "使用地点": _l("Place of use"), "领用人": _l("Drawn by"),
    "批准人(发放人)": _l("Approved and issued by"), "钥匙保管人": _l("Key holder"),
    "经办人": _l("Handled by"), "流程单号": _l("No."), "备注": _l("Note"),
}
PEOPLE_COLUMNS = ("领用人", "批准人(发放人)", "钥匙保管人", "经办人")


def has_record(process_key: str) -> bool:
    """Tell whether a process has a printable paper record."""
    return process_key in RECORD_TEMPLATES


@dataclass(frozen=True)
class Step:
    """The last completion of a task: who, when and what they entered."""

    by: str
    at: str
    data: dict[str, Any]
    times: int


class Record:
    """An instance's data and steps, formatted for a paper record."""

    def __init__(self, data: dict[str, Any], model: CaseModel, history: list[dict[str, Any]],
                 names: dict[str, str]) -> None:
        self.data = data
        self.model = model
        self.names = names
        self.steps: dict[str, Step] = {}
        for row in history:
            if row["kind"] == "task_completed" and row.get("element_id"):
                element = row["element_id"]
                times = self.steps[element].times + 1 if element in self.steps else 1
                data_entered = (row.get("details") or {}).get("data") or {}
                self.steps[element] = Step(person(names, row.get("actor")), local_time(row["at"]),
                                           data_entered, times)

    def label(self, name: str, element: str | None = None) -> str:
        """Return a field's label in the active language, as the step that asks for it says."""
        return self.model.field_label(name, element)

    def value(self, name: str, element: str | None = None) -> str:
        """Return a value of the case for paper: people by name, choices by label; — when missing."""
        return self.model.format(name, self.data.get(name), element)

    def step(self, element_id: str) -> Step | None:
        """Return the last completion of a task, if it happened."""
        return self.steps.get(element_id)

    def step_value(self, element_id: str, name: str) -> str:
        """Return what was entered for name at that step (— if the step has not happened)."""
        step = self.steps.get(element_id)
        return self.model.format(name, step.data.get(name), element_id) if step else "—"


@bp.get("/records/<int:instance_id>")
@roles_required()
def instance_record(instance_id: int) -> str:
    """Print the paper record of a case, chosen by its process."""
    who, moment = actor(), now()
    try:
        view = queries.get_instance(db.session(), instance_id, who, moment)
        history = queries.instance_history(db.session(), instance_id, who, moment)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    template = RECORD_TEMPLATES.get(view.process_key)
    version = queries.version_by_id(db.session(), view.version_id)
    if template is None or version is None:
        abort(404)
    model = CaseModel(version.model)
    usernames = [view.started_by, *(r.get("actor") for r in history)]
    names = display_names(db.session(), [*usernames, *model.usernames(view.data)])
    model.names = names
    record = Record(view.data, model, history, names)
    hazard = view.process_key == "hazardous_goods_issuance"
    table = register_table(instance_id=instance_id) if hazard else None
    return render_template(template, view=view, r=record, case_no=case_number(view.id),
                           started_at=local_time(view.started_at), started_by=person(names, view.started_by),
                           ended_at=local_time(view.ended_at), process_name=model.name, table=table,
                           printed_at=local_time(moment), notes=case_notes(instance_id))


@dataclass(frozen=True)
class RegisterTable:
    """Lines of 危险品使用登记表 in its paper columns (engine.registers), ready to print."""

    headers: list[str]
    numeric: set[int]
    rows: list[list[str]]


def register_table(item: str | None = None, instance_id: int | None = None) -> RegisterTable:
    """Return the register's lines, for one item or one case, people shown by name."""
    columns = list(registers.HAZARD_COLUMNS)
    rows = registers.hazard_register_rows(db.session(), item, local_zone())
    case_col = columns.index("流程单号")
    if instance_id is not None:
        rows = [row for row in rows if row[case_col] == str(instance_id)]
    people = [columns.index(c) for c in PEOPLE_COLUMNS]
    names = display_names(db.session(), [row[i] for row in rows for i in people])
    for row in rows:
        for i in people:
            row[i] = names.get(row[i], row[i])
        row[case_col] = case_number(int(row[case_col])) if row[case_col] else ""
    return RegisterTable([str(COLUMN_LABELS.get(c, c)) for c in columns],
                         {columns.index("数量"), columns.index("结存")}, rows)


def _titled(key: str, labels: tuple[str, str]) -> str:
    """Return an item's name with the unit its quantities are counted in: 酒精（瓶）, Alcohol (bottle)."""
    unit = services.HAZARD_UNITS.get(key)
    if unit is None:
        return pick(*labels)
    return pick(f"{labels[0]}（{unit[0]}）", f"{labels[1]} ({unit[1]})")


@bp.get("/records/hazardous-goods")
@roles_required(*sorted(REGISTER_ROLES))
def hazardous_goods() -> str:
    """Print the hazardous-goods register: every line per item with its running balance."""
    chosen = request.args.get("item") or None
    if chosen is not None and chosen not in services.HAZARD_ITEMS:
        abort(404)
    balances = services.balances(db.session())
    sections = [(key, _titled(key, labels), with_unit(balances.get(key, 0.0), key), register_table(item=key))
                for key, labels in services.HAZARD_ITEMS.items() if chosen in (None, key)]
    return render_template("records/hazard_register.html", sections=sections, chosen=chosen,
                           item_names={k: pick(*v) for k, v in services.HAZARD_ITEMS.items()},
                           printed_at=local_time(now()), title=_("Hazardous goods register"))
