"""The web layer reads through the read side: no module of webui/ imports the ORM tables."""

from __future__ import annotations

import ast
from pathlib import Path

WEBUI = Path(__file__).resolve().parents[2] / "webui"
TABLE_MODULES = ("engine.store.models", "department.models", "department.quality_models")


def imported_modules(path: Path) -> set[str]:
    """Return every module a file imports, with relative imports left out (they stay inside webui)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_web_module_imports_the_orm_tables() -> None:
    offenders = sorted(f"{path.relative_to(WEBUI.parent)}: {name}"
                       for path in WEBUI.rglob("*.py") for name in imported_modules(path)
                       if name.startswith(TABLE_MODULES))
    assert offenders == []


def test_the_check_sees_an_import_of_the_tables(tmp_path: Path) -> None:
    sample = tmp_path / "view.py"
    sample.write_text("from engine.store import models\nfrom engine.store.models import User\n",
                      encoding="utf-8")
    assert {"engine.store.models", "engine.store.models.User"} <= imported_modules(sample)
