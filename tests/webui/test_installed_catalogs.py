"""The app as `make install` leaves it: catalogs built by the Makefile's own recipe show Chinese."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from .conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _installed_copy(tmp_path: Path) -> Path:
    """Copy the Makefile and the .po catalogs (no .mo) to a fresh folder, as a checkout has them."""
    tmp_path.mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for po in (ROOT / "webui" / "translations").glob("*/LC_MESSAGES/messages.po"):
        target = tmp_path / po.relative_to(ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(po, target)
    return tmp_path


def _make_translations(where: Path) -> subprocess.CompletedProcess[str]:
    """Run `make translations` (a step of `make install`) there, the venv counted as installed."""
    stamp = VENV / ".stamp-install"
    return subprocess.run([str(MAKE), "translations", f"VENV={VENV}", "-o", str(stamp)], cwd=where,
                          capture_output=True, text=True, timeout=300, check=False)


def test_make_install_builds_catalogs_and_the_app_speaks_chinese(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = _installed_copy(tmp_path / "checkout")
    built = _make_translations(where)
    assert built.returncode == 0, built.stderr
    catalogs = where / "webui" / "translations"
    assert (catalogs / "zh" / "LC_MESSAGES" / "messages.mo").stat().st_size > 0
    app: Flask = make_app(f"sqlite:///{tmp_path}/db.sqlite", catalogs, tmp_path, monkeypatch)
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "用户名" in html and "Username" not in html


def test_a_broken_catalog_fails_make_install_visibly(tmp_path: Path) -> None:
    where = _installed_copy(tmp_path / "checkout")
    po = where / "webui" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
    broken = '\n#, python-format\nmsgid "Hello %(name)s"\nmsgstr "你好 %(nom)s"\n'  # a placeholder mistyped
    po.write_text(po.read_text(encoding="utf-8") + broken, encoding="utf-8")
    built = _make_translations(where)
    assert built.returncode != 0 and "unknown named placeholder 'nom'" in built.stderr + built.stdout
