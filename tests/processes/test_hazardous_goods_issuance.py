"""Scenario tests for hazardous_goods_issuance (危險品領用): approval, issue, use, return, the register."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from department import services
from department.models import HazardLedgerLine, HazardStock
from department.registers import HAZARD_COLUMNS, csv_safe, hazard_register_csv
from engine.errors import EngineError, Forbidden, InvalidData
from engine.runtime import Engine
from tests.conftest import T0, add_user
from tests.pg import schema_bind
from tests.processes.helpers import Scenario, deploy_all

KEY = "hazardous_goods_issuance"


def stock(session: Session, item: str, quantity: float, who: str = "cs_foreman") -> None:
    """Receive goods from the warehouse, as a foreman does."""
    services.stock_in(session, item, quantity, "庫房入庫", who, T0)
    session.commit()


def request(item: str = "alcohol", quantity: float = 3) -> dict[str, Any]:
    """Return a start form."""
    return {"item": item, "quantity": quantity, "purpose": "消毒門把手", "location": "大堂"}


def approve_and_issue(sc: Scenario, quantity: float = 3, approver: str = "cs_foreman") -> None:
    """Approve the request and issue the goods in person."""
    sc.do("approve", approver, {"approved": True, "approved_quantity": quantity})
    sc.do("issue", approver, {"key_holder": "cleaning_foreman", "issued_quantity": quantity})
    sc.do("open_cabinet", "cleaning_foreman", {"cabinet_opened": True})


def lines(session: Session, item: str = "alcohol") -> list[tuple[str, float, float]]:
    """Return (kind, quantity, balance) of an item's register lines."""
    return [(line.kind, line.quantity, line.balance_after) for line in services.ledger_lines(session, item)]


def test_approved_request_is_issued_used_and_returned_through_the_register(
        sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    sc.start(KEY, request(quantity=3), "cleaner")
    assert sc.inbox("cs_foreman") == ["approve"]
    approve_and_issue(sc, 3)
    assert services.balances(session)["alcohol"] == 7
    use = sc.task("use_and_report")
    assert (use.assignee, use.role) == ("cleaner", "cleaner")
    sc.do("use_and_report", "cleaner", {"used_quantity": 2.5, "anomaly": False})
    assert sc.task("return_unused").assignee == "cleaning_foreman"
    sc.do("return_unused", "cleaning_foreman", {"returned_quantity": 0.5})
    assert sc.path() == ["approve", "issue", "open_cabinet", "use_and_report", "return_unused"]
    sc.assert_ended("completed")
    assert lines(session) == [("stock_in", 10, 10), ("issue", 3, 7), ("return", 0.5, 7.5)]
    issue_line = services.ledger_lines(session, "alcohol")[1]
    assert (issue_line.actor, issue_line.counterpart, issue_line.instance_id) == (
        "cs_foreman", "cleaning_foreman", sc.instance_id)
    scripts = [h.details for h in sc.history("script") if h.element_id == "record_issue"]
    assert scripts == [{"service_calls": [{"operation": "ledger_issue", "item": "alcohol", "quantity": 3.0,
                                           "balance": 7.0}]}]


def test_anomaly_is_handled_by_a_foreman_or_above_before_the_return(sc: Scenario, session: Session) -> None:
    stock(session, "dichlorvos", 2)
    sc.start(KEY, request("dichlorvos", 1), "cleaner")
    approve_and_issue(sc, 1)
    with pytest.raises(InvalidData) as refused:
        sc.do("use_and_report", "cleaner", {"used_quantity": 1, "anomaly": True})
    assert set(refused.value.fields) == {"anomaly_description"}
    sc.do("use_and_report", "cleaner", {"used_quantity": 1, "anomaly": True,
                                        "anomaly_description": "瓶蓋破損"})
    # Supervisors act as foreman, and they are told of the anomaly in a task of their own.
    assert sc.inbox("cs_supervisor") == ["handle_anomaly", "supervisor_informed"]
    sc.do("handle_anomaly", "cs_supervisor", {"anomaly_handling": "通風並更換容器"})
    sc.do("return_unused", "cleaning_foreman", {"returned_quantity": 0})
    sc.do("supervisor_informed", "cs_supervisor", {"supervisor_note": "已知悉"})
    assert sc.path() == ["approve", "issue", "open_cabinet", "use_and_report", "handle_anomaly",
                         "return_unused", "supervisor_informed"]
    sc.assert_ended("completed")
    assert lines(session, "dichlorvos") == [("stock_in", 2, 2), ("issue", 1, 1)]  # nothing came back


def test_anomaly_can_be_reported_during_use_and_reaches_foreman_and_supervisor_at_once(
        sc: Scenario, session: Session) -> None:
    # RULES #35 (制度11 5.0): 使用中發現異常、意外情況及時報告 — not only together with the finished use.
    stock(session, "dichlorvos", 2)
    sc.start(KEY, request("dichlorvos", 1), "cleaner")
    approve_and_issue(sc, 1)
    with pytest.raises(InvalidData) as refused:
        sc.do("use_and_report", "cleaner", {"used_quantity": 0, "anomaly": False, "still_in_use": True})
    assert set(refused.value.fields) == {"still_in_use"}
    sc.do("use_and_report", "cleaner", {"used_quantity": 0.5, "anomaly": True, "still_in_use": True,
                                        "anomaly_description": "噴灑時氣味過重"})
    # The use goes on while the foreman handles it and the supervisor is told.
    assert sc.open_tasks() == ["handle_anomaly_during_use", "supervisor_informed", "use_and_report"]
    assert sc.inbox("cs_foreman") == ["handle_anomaly_during_use"]
    assert sc.inbox("cs_supervisor") == ["handle_anomaly_during_use", "supervisor_informed"]
    sc.do("handle_anomaly_during_use", "cs_foreman", {"anomaly_handling": "開窗通風，戴口罩繼續"})
    sc.do("supervisor_informed", "cs_supervisor", {"supervisor_note": "已知悉"})
    sc.do("use_and_report", "cleaner", {"used_quantity": 1, "anomaly": False})
    assert sc.open_tasks() == ["return_unused"]
    sc.do("return_unused", "cleaning_foreman", {"returned_quantity": 0})
    sc.assert_ended("completed")


def test_rejected_request_ends_without_touching_the_register(sc: Scenario, session: Session) -> None:
    stock(session, "rodenticide", 5)
    sc.start(KEY, request("rodenticide", 1), "cleaner")
    sc.do("approve", "cs_foreman", {"approved": False})
    assert sc.path() == ["approve"]
    sc.assert_ended("rejected")
    assert lines(session, "rodenticide") == [("stock_in", 5, 5)]


def test_approval_cannot_exceed_the_request(sc: Scenario) -> None:
    sc.start(KEY, request(quantity=3), "cleaner")
    with pytest.raises(InvalidData) as refused:
        sc.do("approve", "cs_foreman", {"approved": True, "approved_quantity": 4})
    assert set(refused.value.fields) == {"approved_quantity"}
    with pytest.raises(InvalidData) as refused:
        sc.do("approve", "cs_foreman", {"approved": True})
    assert set(refused.value.fields) == {"approved_quantity"}


def test_issuing_more_than_the_stock_is_refused_naming_the_field(sc: Scenario, session: Session) -> None:
    stock(session, "thinner", 5)
    sc.start(KEY, request("thinner", 8), "cleaner")
    sc.do("approve", "cs_foreman", {"approved": True, "approved_quantity": 8})
    with pytest.raises(InvalidData) as refused:
        sc.do("issue", "cs_foreman", {"key_holder": "cleaning_foreman", "issued_quantity": 8})
    assert set(refused.value.fields) == {"issued_quantity"}
    assert refused.value.fields["issued_quantity"][0].en == "Issued quantity cannot exceed the stock balance"
    assert lines(session, "thinner") == [("stock_in", 5, 5)]
    assert sc.open_tasks() == ["issue"]
    with pytest.raises(InvalidData) as refused:
        sc.do("issue", "cs_foreman", {"key_holder": "cleaner", "issued_quantity": 5})
    assert set(refused.value.fields) == {"key_holder"}  # the key stays with the cleaning foreman
    sc.do("issue", "cs_foreman", {"key_holder": "cleaning_foreman", "issued_quantity": 5})
    assert services.balances(session)["thinner"] == 0


def test_wrong_return_quantity_is_refused(sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    sc.start(KEY, request(quantity=3), "cleaner")
    approve_and_issue(sc, 3)
    with pytest.raises(InvalidData) as refused:
        sc.do("use_and_report", "cleaner", {"used_quantity": 4, "anomaly": False})
    assert set(refused.value.fields) == {"used_quantity"}
    sc.do("use_and_report", "cleaner", {"used_quantity": 2, "anomaly": False})
    for wrong in (0, 0.9, 2):
        with pytest.raises(InvalidData) as refused:
            sc.do("return_unused", "cleaning_foreman", {"returned_quantity": wrong})
        assert set(refused.value.fields) == {"returned_quantity"}
    assert lines(session) == [("stock_in", 10, 10), ("issue", 3, 7)]
    sc.do("return_unused", "cleaning_foreman", {"returned_quantity": 1})
    assert lines(session)[-1] == ("return", 1, 8)
    sc.assert_ended("completed")


def test_requester_may_not_approve_their_own_request(sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    sc.start(KEY, request(quantity=1), "cs_foreman")
    assert sc.inbox("cs_foreman") == ["approve"]  # visible to the role, yet not theirs to do
    with pytest.raises(Forbidden, match="started this case"):
        sc.do("approve", "cs_foreman", {"approved": True, "approved_quantity": 1})
    approve_and_issue(sc, 1, approver="cs_foreman2")
    assert sc.task("use_and_report").assignee == "cs_foreman"
    assert sc.task("use_and_report").role == "cs_foreman"


def test_only_the_approver_issues_in_person(sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    sc.start(KEY, request(quantity=2), "cleaner")
    sc.do("approve", "cs_foreman2", {"approved": True, "approved_quantity": 2})
    issue = sc.task("issue")
    assert (issue.assignee, issue.assigned_by_process) == ("cs_foreman2", True)
    with pytest.raises(Forbidden, match="assigned to cs_foreman2"):
        sc.do("issue", "cs_foreman", {"key_holder": "cleaning_foreman", "issued_quantity": 2})
    with pytest.raises(Forbidden):
        sc.do("issue", "cs_manager", {"key_holder": "cleaning_foreman", "issued_quantity": 2})
    assert lines(session) == [("stock_in", 10, 10)]
    sc.do("issue", "cs_foreman2", {"key_holder": "cleaning_foreman", "issued_quantity": 2})
    assert services.ledger_lines(session, "alcohol")[-1].actor == "cs_foreman2"


def test_only_the_requester_reports_use_and_full_use_returns_nothing(sc: Scenario, session: Session) -> None:
    stock(session, "cockroach_bait", 4)
    sc.start(KEY, request("cockroach_bait", 4), "cleaner")
    approve_and_issue(sc, 4)
    with pytest.raises(Forbidden):
        sc.do("use_and_report", "cleaning_foreman", {"used_quantity": 4, "anomaly": False})
    sc.do("use_and_report", "cleaner", {"used_quantity": 4, "anomaly": False})
    sc.do("return_unused", "cleaning_foreman", {"returned_quantity": 0})
    sc.assert_ended("completed")
    assert lines(session, "cockroach_bait") == [("stock_in", 4, 4), ("issue", 4, 0)]


def test_second_issue_of_the_last_units_is_refused_and_stock_never_goes_negative(
        sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 5)
    first = sc.start(KEY, request(quantity=5), "cleaner")
    sc.do("approve", "cs_foreman", {"approved": True, "approved_quantity": 5})
    second = sc.start(KEY, request(quantity=5), "cleaner")
    sc.do("approve", "cs_foreman2", {"approved": True, "approved_quantity": 5})
    sc.instance_id = first
    sc.do("issue", "cs_foreman", {"key_holder": "cleaning_foreman", "issued_quantity": 5})
    sc.instance_id = second
    with pytest.raises(InvalidData) as refused:
        sc.do("issue", "cs_foreman2", {"key_holder": "cleaning_foreman", "issued_quantity": 5})
    assert set(refused.value.fields) == {"issued_quantity"}
    assert sc.instance().status == "running"
    assert lines(session) == [("stock_in", 5, 5), ("issue", 5, 0)]
    with pytest.raises(services.ServiceError, match="insufficient stock"):
        services.ledger_write(session, item="alcohol", kind="issue", quantity=0.001, actor="x", now=T0)
    session.rollback()
    session.get(HazardStock, "alcohol").balance = -1  # type: ignore[union-attr]
    with pytest.raises(IntegrityError):
        session.flush()  # the database refuses a negative balance even past the service
    session.rollback()


def test_register_csv_follows_the_paper_form(sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    stock(session, "thinner", 1)
    sc.start(KEY, request(quantity=3), "cleaner")
    approve_and_issue(sc, 3)
    sc.do("use_and_report", "cleaner", {"used_quantity": 2, "anomaly": False})
    sc.advance(hours=1)
    sc.do("return_unused", "cleaning_foreman", {"returned_quantity": 1})
    text = hazard_register_csv(session, "alcohol")
    assert text.startswith("\ufeff日期,")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert tuple(rows[0]) == HAZARD_COLUMNS
    record = [dict(zip(HAZARD_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(r["类别"], r["数量"], r["结存"]) for r in record] == [("入库", "10", "10"), ("领用", "3", "7"),
                                                                 ("退回", "1", "8")]
    stock_line, issue_line, return_line = record
    assert (stock_line["领用人"], stock_line["经办人"], stock_line["备注"]) == ("", "cs_foreman", "庫房入庫")
    assert issue_line == {
        "日期": "2026-11-23", "时间": "10:00", "品名": "酒精", "类别": "领用", "数量": "3", "结存": "7",
        "用途": "消毒門把手", "使用地点": "大堂", "领用人": "cleaner", "批准人(发放人)": "cs_foreman",
        "钥匙保管人": "cleaning_foreman", "经办人": "cs_foreman", "流程单号": str(sc.instance_id), "备注": ""}
    assert (return_line["时间"], return_line["经办人"]) == ("11:00", "cleaning_foreman")
    everything = hazard_register_csv(session)
    assert everything.count("\r\n") == 5 and "稀料" in everything
    with pytest.raises(InvalidData) as refused:
        hazard_register_csv(session, "petrol")
    assert set(refused.value.fields) == {"item"}


@pytest.mark.postgres
def test_two_concurrent_issues_of_the_last_units_on_postgresql(pg_schema: str) -> None:
    bind = schema_bind(pg_schema)
    try:
        _race_for_the_last_units(bind)
    finally:
        bind.dispose()


def _race_for_the_last_units(bind: Any) -> None:
    """Two approvers issue the last 5 units at the same moment: one wins, the other is refused."""
    from engine.calendar import BusinessCalendar
    from engine.store.db import make_session_factory

    factory = make_session_factory(bind)
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    with factory() as setup:
        people = {name: add_user(setup, name, role) for name, role in (
            ("cleaner", "cleaner"), ("cs_foreman", "cs_foreman"), ("cs_foreman2", "cs_foreman"),
            ("cleaning_foreman", "cleaning_foreman"))}
        setup.commit()
        deploy_all(setup, engine)
        stock(setup, "alcohol", 5)
        sc = Scenario(setup, engine, people, T0)
        tasks = {}
        for approver in ("cs_foreman", "cs_foreman2"):
            sc.start(KEY, request(quantity=5), "cleaner")
            sc.do("approve", approver, {"approved": True, "approved_quantity": 5})
            tasks[approver] = sc.task("issue").id
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def issue(approver: str) -> None:
        with factory() as session:
            barrier.wait()
            try:
                engine.complete(session, tasks[approver], {"key_holder": "cleaning_foreman",
                                                           "issued_quantity": 5}, people[approver],
                                now=T0 + timedelta(minutes=1))
                session.commit()
                results[approver] = "issued"
            except InvalidData as exc:
                session.rollback()
                results[approver] = "refused:" + ",".join(exc.fields)
            except EngineError as exc:  # e.g. ProcessFailure: the ledger refused after the form passed
                session.rollback()
                results[approver] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=issue, args=(a,)) for a in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values()) == ["issued", "refused:issued_quantity"]
    with factory() as check:
        assert check.get(HazardStock, "alcohol").balance == 0  # type: ignore[union-attr]
        kinds = check.scalars(select(HazardLedgerLine.kind).order_by(HazardLedgerLine.id)).all()
        assert kinds == ["stock_in", "issue"]


def test_register_csv_neutralises_formulas_and_keeps_negative_numbers(session: Session) -> None:
    for note in ("=HYPERLINK(\"http://evil.example\")", "+1+2", "-2+3", "@SUM(A1)", "\t=1", "正常"):
        services.stock_in(session, "alcohol", 1, note, "cs_foreman", T0)
    rows = list(csv.reader(io.StringIO(hazard_register_csv(session, "alcohol").removeprefix("\ufeff"))))
    notes = [dict(zip(HAZARD_COLUMNS, row, strict=True))["备注"] for row in rows[1:]]
    assert notes == ["'=HYPERLINK(\"http://evil.example\")", "'+1+2", "'-2+3", "'@SUM(A1)", "'\t=1", "正常"]
    assert [csv_safe(v) for v in ("-2.5", "+3", "-", "3")] == ["-2.5", "+3", "'-", "3"]


# -- issue 12: cabinet, same-day return, anomalies to foreman and supervisor ---------------------

def test_the_key_holder_confirms_opening_the_cabinet(sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    sc.start(KEY, request(), "cleaner")
    sc.do("approve", "cs_foreman", {"approved": True, "approved_quantity": 3})
    sc.do("issue", "cs_foreman", {"key_holder": "cleaning_foreman", "issued_quantity": 3})
    assert sc.task("open_cabinet").assignee == "cleaning_foreman"
    with pytest.raises(Forbidden):
        sc.do("open_cabinet", "cs_foreman", {"cabinet_opened": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("open_cabinet", "cleaning_foreman", {"cabinet_opened": False})
    assert set(refused.value.fields) == {"cabinet_opened"}
    sc.do("open_cabinet", "cleaning_foreman", {"cabinet_opened": True})
    assert sc.open_tasks() == ["use_and_report"]


def test_use_and_return_are_due_the_same_working_day_and_overdue_goes_to_the_foreman(
        sc: Scenario, session: Session) -> None:
    stock(session, "alcohol", 10)
    sc.start(KEY, request(), "cleaner")
    approve_and_issue(sc)
    end_of_day = sc.now + timedelta(hours=9)  # issued Monday 10:00; the working day ends at 19:00
    assert sc.due("use_and_report") == end_of_day
    assert sc.fire(end_of_day - timedelta(seconds=1)) is False
    assert sc.fire(end_of_day + timedelta(seconds=1)) is True
    sc.assert_escalated("use_and_report", "use_overdue")
    assert sc.inbox("cs_foreman") == ["follow_up_return"]
    sc.now = end_of_day + timedelta(hours=1)
    sc.do("use_and_report", "cleaner", {"used_quantity": 2, "anomaly": False})
    # The return is still due the day of the issue: it is late the moment it opens.
    sc.assert_escalated("return_unused", "return_overdue")


def test_the_case_title_names_the_item_not_its_code(sc: Scenario, session: Session) -> None:
    from engine.store.models import ProcessInstance

    case = sc.start(KEY, request(item="cockroach_bait"), "cleaner")
    title = session.get(ProcessInstance, case).title
    assert title == "危险品领用 灭螂药" and "cockroach_bait" not in title
