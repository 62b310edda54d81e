"""The app's file store for case attachments: BPM_FILES_DIR (default instance/files), size limit."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from engine.files.store import FileStore
from engine.notes import DEFAULT_MAX_BYTES


def file_store() -> FileStore:
    """Return the store under BPM_FILES_DIR, else the instance folder's files/."""
    root = current_app.config.get("BPM_FILES_DIR") or Path(current_app.instance_path) / "files"
    return FileStore(root)


def max_upload_bytes() -> int:
    """Return the largest attachment accepted (BPM_MAX_UPLOAD_BYTES, default 10 MB)."""
    return int(current_app.config.get("BPM_MAX_UPLOAD_BYTES") or DEFAULT_MAX_BYTES)
