"""The translation catalogs as merged: each message once, each with its translation line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

CATALOGS = sorted((Path(__file__).resolve().parents[2] / "webui" / "translations").glob("*/LC_MESSAGES/*.po"))


def _entries(path: Path) -> list[tuple[str, str, bool]]:
    """Return (context, msgid, has msgstr) for each entry of a .po file, read line by line."""
    entries: list[tuple[str, str, bool]] = []
    context, msgid, field = "", None, ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("msgctxt "):
            context, field = line[8:], "ctxt"
        elif line.startswith("msgid_plural"):
            field = ""
        elif line.startswith("msgid "):
            if msgid is not None:
                entries.append((context, msgid, False))  # a msgid followed by another: its msgstr is gone
                context = ""
            msgid, field = line[6:], "id"
        elif line.startswith('"') and field == "id" and msgid is not None:
            msgid += line
        elif line.startswith('"') and field == "ctxt":
            context += line
        elif line.startswith("msgstr") and msgid is not None:
            entries.append((context, msgid, True))
            context, msgid, field = "", None, ""
    return entries


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_each_message_is_in_the_catalog_once_with_its_translation_line(path: Path) -> None:
    entries = _entries(path)
    assert entries, f"{path} has no entries"
    missing = [msgid for _ctx, msgid, has_str in entries if not has_str]
    assert not missing, f"{path}: msgid without msgstr: {missing}"
    twice = [key for key, count in Counter((ctx, msgid) for ctx, msgid, _ in entries).items() if count > 1]
    assert not twice, f"{path}: entries written twice: {twice}"
