"""History retention: finished cases leave for a gzip JSON-lines archive and can be found there again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from department.kpis import compute_kpis
from department.models import HazardLedgerLine, KeyEvent, KpiTaskFact
from engine.archive import archive_finished, case_tables, find_case, read_header
from engine.calendar import BusinessCalendar
from engine.files.store import FileStore
from engine.integrity import check_all
from engine.notes import add_attachment, add_comment
from engine.retention import DAYS_ENV, FOLDER_ENV, RetentionPolicy, run_retention
from engine.runtime import Actor, Engine
from engine.store.models import Base, CaseAttachment, CaseComment, HistoryEvent, ProcessInstance, TaskRow
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0
from tests.engine.test_kpis import History, local

CAL = BusinessCalendar(country=None)


def one_step() -> str:
    """Return a process with a start form and one task."""
    p = Process("arch")
    p.start(fields=[field_xml("unit")])
    p.user("do", "cs_assistant", [field_xml("note")])
    p.end("end")
    p.chain("start", "do", "end")
    return p.xml()


def finish(session: Session, engine: Engine, actor: Actor, unit: str, note: str) -> int:
    """Start a case and complete its one task; return its id."""
    inst = engine.start(session, "arch", {"unit": unit}, actor)
    session.commit()
    [row] = session.scalars(select(TaskRow).where(TaskRow.instance_id == inst.id))
    engine.complete(session, row.id, {"note": note}, actor)
    session.commit()
    return inst.id


def live_history(session: Session, instance_id: int) -> list[tuple[str, str | None, object]]:
    """Return a case's history as (kind, element, details)."""
    return [(e.kind, e.element_id, e.details) for e in session.scalars(
        select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id))]


def test_archive_round_trips_a_finished_case_and_leaves_running_ones(
        session: Session, engine: Engine, people: dict[str, Actor], tmp_path: Path) -> None:
    engine.deploy(session, one_step())
    actor = people["cs_assistant"]
    done = finish(session, engine, actor, "A-1201", "水管已修")
    running = engine.start(session, "arch", {"unit": "B-0302"}, actor).id
    session.commit()
    before = live_history(session, done)
    data = session.get(ProcessInstance, done).data  # type: ignore[union-attr]
    path = tmp_path / "archive.jsonl.gz"
    report = archive_finished(session, path, T0 + timedelta(days=1), now=T0 + timedelta(days=1))
    assert (report.archived, report.held) == (1, 0)
    assert session.scalar(select(func.count()).select_from(ProcessInstance)
                          .where(ProcessInstance.id == done)) == 0
    assert session.scalar(select(func.count()).select_from(HistoryEvent)
                          .where(HistoryEvent.instance_id == done)) == 0
    assert session.get(ProcessInstance, running) is not None
    record = find_case(path, f"{done:06d}")
    assert record is not None
    assert record["instance"]["data"] == data and record["instance"]["status"] == "completed"
    assert [(e["kind"], e["element_id"], e["details"]) for e in record["tables"]["history"]] == before
    assert record["tables"]["tasks"][0]["completed_by"] == "cs_assistant"
    assert set(record["instance"]["state"]) == {"sha256", "size"}
    assert find_case(path, running) is None
    assert read_header(path)["tables"] == [t.name for t in case_tables()]
    assert check_all(session) == []


def test_archive_keeps_the_comments_and_attachments_the_cases_deletion_removes(
        session: Session, engine: Engine, people: dict[str, Actor], tmp_path: Path) -> None:
    engine.deploy(session, one_step())
    actor = people["cs_assistant"]
    done = finish(session, engine, actor, "A-1201", "水管已修")
    photo = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    add_comment(session, done, actor, "住戶說週三下午在家", T0)
    add_attachment(session, FileStore(tmp_path / "files"), done, actor, "invoice.pdf", photo, T0)
    session.commit()
    path = tmp_path / "archive.jsonl.gz"
    assert archive_finished(session, path, T0 + timedelta(days=1), now=T0 + timedelta(days=1)).archived == 1
    for table in (CaseComment, CaseAttachment):
        assert session.scalar(select(func.count()).select_from(table).where(table.instance_id == done)) == 0
    record = find_case(path, done)
    assert record is not None
    assert [c["body"] for c in record["tables"]["case_comments"]] == ["住戶說週三下午在家"]
    [attached] = record["tables"]["case_attachments"]
    assert (attached["filename"], attached["size"]) == ("invoice.pdf", len(photo))


def test_a_register_line_whose_link_the_database_clears_stays_live_and_its_copy_keeps_the_link(
        session: Session, engine: Engine, people: dict[str, Actor], tmp_path: Path) -> None:
    engine.deploy(session, one_step())
    done = finish(session, engine, people["cs_assistant"], "A-1201", "水管已修")
    line = KeyEvent(key_id="A-1201", kind="unit", event="lent", status_after="lent", actor="cs_assistant",
                    instance_id=done, at=T0)
    session.add(line)
    session.commit()
    path = tmp_path / "archive.jsonl.gz"
    assert archive_finished(session, path, T0 + timedelta(days=1), now=T0 + timedelta(days=1)).archived == 1
    session.expire_all()
    assert session.get(KeyEvent, line.id).instance_id is None  # type: ignore[union-attr]
    record = find_case(path, done)
    assert record is not None
    assert [(e["id"], e["instance_id"]) for e in record["tables"]["key_events"]] == [(line.id, done)]


def test_every_table_pointing_at_a_case_reaches_the_archive() -> None:
    instances = ProcessInstance.__table__
    pointing = {fk.parent.table.name for table in Base.metadata.tables.values() for fk in table.foreign_keys
                if fk.column.table is instances}
    # The archive reads and deletes by `instance_id`; a link under another name needs its own handling.
    assert {fk.parent.name for table in Base.metadata.tables.values() for fk in table.foreign_keys
            if fk.column.table is instances} == {"instance_id"}
    assert {t.name for t in case_tables()} == pointing
    assert {"history", "tasks", "case_comments", "case_attachments"} <= pointing


def test_an_existing_archive_file_is_never_overwritten(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl.gz"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        archive_finished(session, path, T0)
    assert path.read_bytes() == b"keep me"


def test_kpis_of_a_past_period_keep_their_figures_after_archiving(session: Session, tmp_path: Path) -> None:
    hist = History(session)
    ready = local(2026, 10, 5, 10)
    on_time = hist.instance("repair_dispatch")
    hist.task(on_time, "arrive_on_site", ready, done=ready + timedelta(minutes=10), by="technician")
    hist.task(on_time, "callback", ready + timedelta(hours=1), done=ready + timedelta(hours=2),
              data={"satisfied": True}, role="cs_assistant")
    late = hist.instance("complaint_handling", severity="major")
    hist.task(late, "investigate", ready, done=ready + timedelta(days=2), data={"valid": True},
              role="cs_foreman")
    for instance_id in (on_time, late):
        inst = session.get(ProcessInstance, instance_id)
        assert inst is not None
        inst.status, inst.ended_at = "completed", ready + timedelta(days=3)
    session.commit()
    start, end = local(2026, 10, 1, 0), local(2026, 11, 1, 0)
    before = compute_kpis(session, start, end, CAL, now=T0).to_dict()
    report = archive_finished(session, tmp_path / "a.jsonl.gz", T0, now=T0)
    assert report.archived == 2
    assert session.scalar(select(func.count()).select_from(HistoryEvent)) == 0
    assert session.scalar(select(func.count()).select_from(KpiTaskFact)) == 3
    assert compute_kpis(session, start, end, CAL, now=T0).to_dict() == before


def test_kpis_that_read_case_data_keep_their_figures_after_archiving(session: Session,
                                                                      tmp_path: Path) -> None:
    hist = History(session)
    received = local(2026, 10, 6, 10)
    minute = timedelta(minutes=1)
    cases = []
    for forwarded, method in ((25, "phone"), (5, "face_to_face")):  # the first is forwarded late
        data = {"severity": "general", "forward_from": received.isoformat(), "owner": "amy",
                "owner_role": "cs_assistant", "handling_due": (received + timedelta(days=2)).isoformat()}
        iid = hist.instance("complaint_handling", started=received, data=data, severity="general")
        hist.task(iid, "forward", received, done=received + forwarded * minute, by="amy", role="cs_assistant")
        hist.task(iid, "investigate", received + 30 * minute, done=received + 60 * minute,
                  data={"valid": True}, role="cs_supervisor")
        hist.task(iid, "inform_customer", received + 60 * minute, done=received + 90 * minute, by="amy",
                  role="cs_assistant")
        repair = hist.instance("repair_dispatch", started=received)
        hist.task(repair, "callback", received + timedelta(hours=1), done=received + timedelta(hours=2),
                  data={"satisfied": True, "callback_method": method}, role="cs_assistant")
        cases += [iid, repair]
    for instance_id in cases:
        inst = session.get(ProcessInstance, instance_id)
        assert inst is not None
        inst.status, inst.ended_at = "completed", received + timedelta(days=3)
    session.commit()
    start, end = local(2026, 10, 1, 0), local(2026, 11, 1, 0)
    before = compute_kpis(session, start, end, CAL, now=T0)
    complaints = before.complaint_timeliness.overall
    assert (complaints.numerator, complaints.denominator) == (1, 2)
    assert before.callback_face_to_face.overall.numerator == 1
    assert archive_finished(session, tmp_path / "a.jsonl.gz", T0, now=T0).archived == 4
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
    assert compute_kpis(session, start, end, CAL, now=T0).to_dict() == before.to_dict()


def test_a_case_a_register_line_points_at_stays_live(session: Session, tmp_path: Path) -> None:
    hist = History(session)
    kept = hist.instance("hazard_use")
    inst = session.get(ProcessInstance, kept)
    assert inst is not None
    inst.status, inst.ended_at = "completed", T0 - timedelta(days=10)
    session.add(HazardLedgerLine(item="paint", kind="stock_in", quantity=1, balance_after=1, instance_id=kept,
                                 actor="cs_assistant", at=T0 - timedelta(days=10)))
    session.commit()
    report = archive_finished(session, tmp_path / "a.jsonl.gz", T0, now=T0)
    assert (report.archived, report.held) == (0, 1)
    assert session.get(ProcessInstance, kept) is not None


def test_the_retention_setting_archives_cases_older_than_its_days(
        session: Session, engine: Engine, people: dict[str, Actor], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine.deploy(session, one_step())
    done = finish(session, engine, people["cs_assistant"], "A-1201", "ok")
    monkeypatch.setenv(DAYS_ENV, "30")
    monkeypatch.setenv(FOLDER_ENV, str(tmp_path / "archive"))
    policy = RetentionPolicy.from_env(tmp_path / "unused")
    assert policy == RetentionPolicy(30, tmp_path / "archive")
    assert run_retention(session, policy, now=T0 + timedelta(days=29)).archived == 0
    assert list(policy.folder.iterdir()) == []  # no header-only files
    report = run_retention(session, policy, now=T0 + timedelta(days=31))
    assert report.archived == 1 and find_case(report.path, done) is not None
    monkeypatch.setenv(DAYS_ENV, "a month")
    with pytest.raises(ValueError, match=DAYS_ENV):
        RetentionPolicy.from_env(tmp_path)
