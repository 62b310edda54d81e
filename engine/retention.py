"""The scheduled retention setting: once a day the worker archives cases finished more than N days ago."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from engine.archive import ArchiveReport, archive_finished

log = logging.getLogger(__name__)

DAYS_ENV = "BPM_HISTORY_RETENTION_DAYS"  # unset or 0: keep everything live
FOLDER_ENV = "BPM_ARCHIVE_DIR"
EVERY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep finished cases live for `days`, then archive them into files in `folder`."""

    days: int
    folder: Path

    @classmethod
    def from_env(cls, default_folder: Path) -> RetentionPolicy | None:
        """Read the setting; None when retention is off. A bad value is refused naming the variable."""
        raw = os.environ.get(DAYS_ENV, "").strip()
        if not raw or raw == "0":
            return None
        if not raw.isdigit():
            raise ValueError(f"{DAYS_ENV} must be a whole number of days, not {raw!r}")
        return cls(int(raw), Path(os.environ.get(FOLDER_ENV) or default_folder))


def run_retention(session: Session, policy: RetentionPolicy, now: datetime | None = None) -> ArchiveReport:
    """Archive the cases that ended before now − days into a new, time-stamped file of the folder."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    policy.folder.mkdir(parents=True, exist_ok=True)
    path = policy.folder / f"archive-{now:%Y%m%dT%H%M%S}Z.jsonl.gz"
    report = archive_finished(session, path, now - timedelta(days=policy.days), now=now)
    if report.archived == 0:
        path.unlink(missing_ok=True)  # a file holding only a header helps nobody
    return report


def run_schedule(session_factory: Callable[[], Session], policy: RetentionPolicy, stop: threading.Event,
                 every: timedelta = EVERY) -> None:
    """Run retention now and then every `every` until stopped (the worker's thread)."""
    while not stop.is_set():
        try:
            with session_factory() as session:
                report = run_retention(session, policy)
            log.info("retention: archived %s case(s), %s held live", report.archived, report.held)
        except Exception:  # the worker must go on firing timers; the next day tries again
            log.exception("retention run failed")
        stop.wait(every.total_seconds())
