"""History retention: export finished cases to a compressed JSON-lines archive, then remove them live.

One line per case: the instance row (its state blob as a hash), and the rows of every table that
points at the case (`case_tables`) — history (who did what, with the data of each step), the inbox
rows, comments, attachments and the department's own per-case tables. Binary columns are stored as
their SHA-256 and size, never the bytes. Each batch is written and flushed to the file before its rows
are deleted in one unit of work, so a failure can leave a case both archived and live, never neither.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from engine import domain
from engine.store.models import Base, ProcessInstance
from engine.store.unit_of_work import run_unit

FORMAT = "propertyflow-archive"
FORMAT_VERSION = 1
FINAL = ("completed", "terminated")
BATCH = 500


@dataclass
class ArchiveReport:
    """What one archive run did."""

    path: Path
    archived: int = 0
    held: int = 0  # finished cases the domain keeps live (its registers point at them)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return {"sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}
    return value


def case_tables() -> list[Table]:
    """Return the tables whose rows point at a case, in a fixed order: the archive copies them all."""
    # Derived from the foreign keys, not a list of names: a table a release adds (or a name typed
    # wrong) would otherwise be emptied by the database's cascade without reaching the archive.
    instances = ProcessInstance.__table__
    found = {fk.parent.table for table in Base.metadata.sorted_tables for fk in table.foreign_keys
             if fk.column is instances.c.id and fk.parent.name == "instance_id"}
    return sorted(found, key=lambda t: t.name)


def _cascading(table: Table) -> bool:
    """Tell whether the database deletes the table's rows with their case (else it clears the link)."""
    return any(fk.parent.name == "instance_id" and (fk.ondelete or "").upper() == "CASCADE"
               for fk in table.foreign_keys)


def _rows(session: Session, table: Table, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    order = list(table.primary_key.columns)
    for row in session.execute(select(table).where(table.c.instance_id.in_(ids)).order_by(*order)).mappings():
        out[row["instance_id"]].append({k: _jsonable(v) for k, v in row.items()})
    return out


def _case_lines(session: Session, ids: list[int]) -> Iterator[dict[str, Any]]:
    """Yield one archive record per case."""
    table = ProcessInstance.__table__
    per_table = {t.name: _rows(session, t, ids) for t in case_tables()}
    for row in session.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id)).mappings():
        instance = {k: _jsonable(v) for k, v in row.items()}
        yield {"case": row["id"], "instance": instance,
               "tables": {name: rows[row["id"]] for name, rows in per_table.items()}}


def _due_ids(session: Session, before: datetime, after_id: int, limit: int) -> list[int]:
    return list(session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.status.in_(FINAL), ProcessInstance.ended_at < before,
                                         ProcessInstance.id > after_id)
        .order_by(ProcessInstance.id).limit(limit)))


def _remove(session: Session, ids: list[int]) -> None:
    """Delete the cases' rows, children first (SQLite may not enforce the cascades)."""
    # A row whose link the database would clear (a register line) stays live, its copy in the archive.
    for table in case_tables():
        if _cascading(table):
            session.execute(delete(table).where(table.c.instance_id.in_(ids)))
    session.execute(delete(ProcessInstance).where(ProcessInstance.id.in_(ids))
                    .execution_options(synchronize_session=False))


def archive_finished(session: Session, path: Path, finished_before: datetime, *, batch: int = BATCH,
                     now: datetime | None = None, progress: Callable[[int], None] | None = None
                     ) -> ArchiveReport:
    """Archive every case that ended before the moment into a new gzip JSON-lines file, then remove it."""
    if finished_before.tzinfo is None:
        raise ValueError("finished_before must be timezone-aware")
    if path.exists():
        raise FileExistsError(f"{path} exists; an archive is never overwritten")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    report = ArchiveReport(path)
    hold = domain.current().before_archive
    last = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        _write(out, {"format": FORMAT, "version": FORMAT_VERSION, "created_at": now.isoformat(),
                     "finished_before": finished_before.astimezone(UTC).isoformat(),
                     "tables": [t.name for t in case_tables()]})
        while True:
            ids = _due_ids(session, finished_before, last, batch)
            if not ids:
                break
            last = ids[-1]

            def unit(ids: list[int] = ids) -> int:
                held = hold(session, ids) if hold is not None else set()
                leaving = [i for i in ids if i not in held]
                report.held += len(ids) - len(leaving)
                if leaving:
                    for record in _case_lines(session, leaving):
                        _write(out, record)
                    out.flush()  # on disk before the rows go
                    _remove(session, leaving)
                return len(leaving)

            report.archived += run_unit(session, unit).unwrap()
            if progress is not None:
                progress(report.archived)
    return report


def _write(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_fallback))
    out.write("\n")


def _fallback(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def read_header(path: Path) -> dict[str, Any]:
    """Return an archive's header line, refusing files that are not archives."""
    with gzip.open(path, "rt", encoding="utf-8") as src:
        header: dict[str, Any] = json.loads(src.readline() or "{}")
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    return header


def find_case(path: Path, case: int | str) -> dict[str, Any] | None:
    """Return an archived case's record by case number (its instance id, leading zeros allowed)."""
    wanted = int(str(case).lstrip("0") or "0")
    read_header(path)
    with gzip.open(path, "rt", encoding="utf-8") as src:
        next(src)
        for line in src:
            # The case number leads each line: most lines are skipped without parsing the JSON.
            if not line.startswith(f'{{"case":{wanted},'):
                continue
            record: dict[str, Any] = json.loads(line)
            return record
    return None
