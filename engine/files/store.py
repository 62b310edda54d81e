"""A content-addressed file store: bytes saved once under their SHA-256, outside the database."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class FileStore:
    """Keeps each distinct content once, at root/ab/abcdef… (its SHA-256); thumbnails beside it."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        """Return where a content of this digest lives."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def thumbnail_path(self, digest: str) -> Path:
        """Return where the thumbnail of this content lives."""
        return self.path(digest).with_suffix(".thumb.jpg")

    def put(self, data: bytes, thumbnail: bytes | None = None) -> str:
        """Save the bytes (and their thumbnail) unless already present; return the SHA-256 digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            _write_atomically(target, data)
        if thumbnail is not None and not self.thumbnail_path(digest).exists():
            _write_atomically(self.thumbnail_path(digest), thumbnail)
        return digest

    def read(self, digest: str, thumbnail: bool = False) -> bytes:
        """Return the stored bytes (FileNotFoundError when missing)."""
        return (self.thumbnail_path(digest) if thumbnail else self.path(digest)).read_bytes()


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
