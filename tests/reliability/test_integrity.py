"""`bpm check` finds every kind of inconsistency a crash, a bug or a hand edit could leave behind."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from department.models import HazardLedgerLine, HazardStock
from engine.errors import StateFormatError
from engine.integrity import Finding, check_all, check_instance
from engine.runtime import Actor, Engine
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, TaskRow, User
from tests.conftest import T0
from webui.cli import cli, load_extensions
from webui.extensions import db

from .scenario import Cases, open_task, populate

Corruption = Callable[[Session, Cases], None]
load_extensions()  # registers `bpm check` and the other admin commands on the group


def _set(session: Session, instance_id: int, **values: object) -> None:
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(**values))


def _drop_history(kind: str) -> Corruption:
    def corrupt(session: Session, cases: Cases) -> None:
        instance = cases.completed
        first = session.scalars(select(HistoryEvent.id).where(HistoryEvent.instance_id == instance,
                                                              HistoryEvent.kind == kind)).first()
        session.execute(delete(HistoryEvent).where(HistoryEvent.id == first))
    return corrupt


def _duplicate_completion(session: Session, cases: Cases) -> None:
    event = session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == cases.completed,
                                                       HistoryEvent.kind == "task_completed")).first()
    assert event is not None
    session.add(HistoryEvent(instance_id=event.instance_id, at=event.at, kind=event.kind, actor="intruder",
                             element_id=event.element_id, task_id=event.task_id, message=""))


def _extra_open_row(session: Session, cases: Cases) -> None:
    session.add(TaskRow(id=str(uuid.uuid4()), instance_id=cases.waiting, process_key="audit_trail",
                        element_id="second", title_zh="x", title_en="x", role="cs_manager", status="open",
                        created_at=T0))


def _lost_open_row(session: Session, cases: Cases) -> None:
    row = open_task(session, cases.waiting, "first")
    session.execute(delete(TaskRow).where(TaskRow.id == row.id))


def _reopened_row(session: Session, cases: Cases) -> None:
    session.execute(update(TaskRow).where(TaskRow.instance_id == cases.completed,
                                          TaskRow.element_id == "second").values(status="open"))


def _cancelled_instead_of_completed(session: Session, cases: Cases) -> None:
    session.execute(update(TaskRow).where(TaskRow.instance_id == cases.advanced,
                                          TaskRow.element_id == "first").values(status="cancelled"))


def _uncompiled_version(session: Session, cases: Cases) -> None:
    session.execute(update(ProcessVersion).values(bpmn_xml="<not-bpmn/>", content_hash="0" * 64))


def _ledger_line_lost(session: Session, cases: Cases) -> None:
    last = session.scalar(select(HazardLedgerLine.id).where(HazardLedgerLine.kind == "stock_in"))
    session.execute(delete(HazardLedgerLine).where(HazardLedgerLine.id == last))


def _balance_edited(session: Session, cases: Cases) -> None:
    session.execute(update(HazardStock).where(HazardStock.item == "alcohol").values(balance=99))


CORRUPTIONS: dict[str, tuple[Corruption, str, str]] = {
    # name: (corrupt, finding kind, words in the message)
    "state bytes garbled": (lambda s, c: _set(s, c.waiting, state=b"garbage"), "state", "unreadable"),
    "state not JSON": (lambda s, c: _set(s, c.waiting, state=zlib.compress(b"{")), "state", "unreadable"),
    "state format from the future": (lambda s, c: _set(s, c.waiting, state_format=2), "state",
                                     "format 2 is not supported"),
    "version row no longer compiles": (_uncompiled_version, "version", "does not compile"),
    "open inbox row lost": (_lost_open_row, "inbox", "has no open inbox row"),
    "inbox row for no ready task": (_extra_open_row, "inbox", "not a ready task"),
    "completed instance with an open task": (_reopened_row, "inbox", "open task"),
    "completion recorded, row cancelled": (_cancelled_instead_of_completed, "history", "row is cancelled"),
    "completed event missing": (_drop_history("completed"), "history", "'completed' event"),
    "task_completed event missing": (_drop_history("task_completed"), "history",
                                     "without a task_completed event"),
    "task_ready event missing": (_drop_history("task_ready"), "history", "no task_ready event"),
    "started event missing": (_drop_history("started"), "history", "'started' events"),
    "completion recorded twice": (_duplicate_completion, "history", "completed 2 times"),
    "status completed, workflow not": (lambda s, c: _set(s, c.waiting, status="completed",
                                                         ended_at=T0), "status", "workflow is not"),
    "status running, workflow completed": (lambda s, c: _set(s, c.completed, status="running"), "status",
                                           "workflow is completed"),
    "error status without an error": (lambda s, c: _set(s, c.failed, error=None), "status",
                                      "no error is recorded"),
    "unknown status": (lambda s, c: _set(s, c.waiting, status="paused"), "status", "unknown status"),
    "wake-up moved": (lambda s, c: _set(s, c.waiting, next_wakeup_at=T0 + timedelta(hours=1)), "wakeup",
                      "next_wakeup_at"),
    "wake-up lost": (lambda s, c: _set(s, c.waiting, next_wakeup_at=None), "wakeup", "the state says"),
    "due time edited": (lambda s, c: _set(s, c.waiting, due_at=T0 + timedelta(days=9)), "inbox",
                        "instance due time"),
    "ledger line lost": (_ledger_line_lost, "register", "lines sum to"),
    "balance edited": (_balance_edited, "register", "balance 99"),
}


@pytest.fixture
def cases(session: Session, engine: Engine, people: dict[str, Actor]) -> Cases:
    """Return a committed database with one instance in each state."""
    return populate(session, engine, people)


def test_a_consistent_database_has_no_findings(session: Session, cases: Cases) -> None:
    statuses = {i.status for i in session.scalars(select(ProcessInstance))}
    assert statuses == {"running", "completed", "terminated", "error"}
    assert check_all(session) == []


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_found(session: Session, cases: Cases, name: str) -> None:
    corrupt, kind, words = CORRUPTIONS[name]
    corrupt(session, cases)
    session.commit()
    session.expire_all()
    findings = check_all(session)
    assert any(f.kind == kind and words in f.message for f in findings), findings


def test_a_finding_names_its_instance(session: Session, cases: Cases) -> None:
    _set(session, cases.waiting, state_format=7)
    session.commit()
    [finding] = check_instance(session, cases.waiting)
    assert finding.instance_id == cases.waiting
    assert str(finding).startswith(f"instance {cases.waiting}: [state]")
    assert check_instance(session, cases.advanced) == []
    assert check_instance(session, 10**9) == [Finding(10**9, "missing", "no such instance")]


def test_an_unknown_state_format_is_refused_and_changes_nothing(
        session: Session, engine: Engine, people: dict[str, Actor], cases: Cases) -> None:
    _set(session, cases.waiting, state_format=2)
    session.commit()
    task = open_task(session, cases.waiting, "first")
    with pytest.raises(StateFormatError, match="format 2 is not supported"):
        engine.complete(session, task.id, {}, people["cs_assistant2"])
    session.rollback()
    assert open_task(session, cases.waiting, "first").status == "open"


def test_bpm_check_prints_findings_and_exits_non_zero(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        engine = Engine(clock=lambda: T0)
        people = {u.username: Actor(u.username, u.role_ids) for u in db.session.scalars(select(User))}
        cases = populate(db.session, engine, people)
    clean = runner.invoke(cli, ["check"])
    assert clean.exit_code == 0, clean.output
    assert "6 instance(s) checked: no findings" in clean.output
    with app.app_context():
        _set(db.session, cases.advanced, next_wakeup_at=T0)
        db.session.commit()
    broken = runner.invoke(cli, ["check"])
    assert broken.exit_code == 1
    assert f"instance {cases.advanced}: [wakeup]" in broken.output
    assert "1 finding(s) in 6 instance(s)" in broken.output
    one = runner.invoke(cli, ["check", "--instance", str(cases.waiting)])
    assert one.exit_code == 0 and "1 instance(s) checked" in one.output

