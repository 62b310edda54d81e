"""Browser fixtures: the app on a live local server, Debian's chromium through Playwright, sign-in."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from werkzeug.serving import make_server

import engine.passwords
import engine.users
from engine.passwords import ScryptParams
from engine.store.db import create_schema
from engine.users import demo_accounts, ensure_demo_users
from webui import create_app
from webui.engine_ext import get_engine
from webui.extensions import db

# Debian's chromium; another build can be named for a local run (never downloaded at run time).
CHROMIUM = Path(os.environ.get("BPM_TEST_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
# Pages that refuse input answer 409/412/422 on purpose; the browser logs those as errors.
EXPECTED_STATUS = re.compile(r"Failed to load resource: the server responded with a status of 4(09|12|22)")
PASSWORDS = {username: password for username, password, _roles in demo_accounts()}

if not CHROMIUM.exists():
    # Under CI=true a missing browser fails the run: a green run must not hide untested pages.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {CHROMIUM} is missing (apt-get install chromium; see `make browser-deps`): "
                    "the browser tests were NOT run", pytrace=False)
    pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install chromium; "
                "see `make browser-deps`)", allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, sync_playwright  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the browser tests on one pytest-xdist worker (`--dist loadgroup`).

    They share one live app per session (a test that deploys a change redeploys the shipped processes
    afterwards), and one chromium is enough for two cores: a second would only take memory and CPU.
    """
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.xdist_group("browser"))


def _compile_translations(out: Path) -> Path:
    """Compile the committed catalogs into a temporary folder (the .mo files are not committed)."""
    for po_path in (ROOT / "webui" / "translations").glob("*/LC_MESSAGES/messages.po"):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        target = out / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as fh:
            write_mo(fh, catalog)
    return out


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """Build the app as in production (CSRF on) on a temporary SQLite file with processes and demo users."""
    root = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BPM_INSTANCE_PATH", str(root / "instance"))
        mp.delenv("BPM_SECRET_KEY", raising=False)
        mp.delenv("BPM_DATABASE_URL", raising=False)
        # Demo users are hashed once per session; cheap parameters keep start-up short.
        mp.setattr(engine.passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))
        app = create_app({
            "SECRET_KEY": "browser-tests", "BPM_DATABASE_URL": f"sqlite:///{root}/live.sqlite",
            "BABEL_TRANSLATION_DIRECTORIES": str(_compile_translations(root / "translations")),
        })
        with app.app_context():
            create_schema(db.engine)
            ensure_demo_users(db.session)
            db.session.commit()
        deploy_shipped(app)
        yield app
    db.dispose(app)


def deploy_shipped(app: Flask) -> None:
    """Deploy every shipped process file; one whose newest version has the same content is left as is."""
    with app.app_context():
        for path in sorted((ROOT / "processes").glob("*.bpmn")):
            get_engine().deploy(db.session, path.read_bytes(), filename=path.name)
        db.session.commit()


@pytest.fixture
def shipped_processes_afterwards(live_app: Flask) -> Iterator[None]:
    """Deploy the shipped processes again after a test that deploys a change to one of them.

    The app is shared by the whole session: without this, a later test would meet the renamed task
    (and pass or fail by the order tests happen to run in).
    """
    yield
    deploy_shipped(live_app)


@pytest.fixture(scope="session")
def base_url(live_app: Flask) -> Iterator[str]:
    """Serve the app on 127.0.0.1 at a free port in a background thread."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Launch Debian's chromium headless (never a downloaded browser)."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


class People:
    """Opens one signed-in browser context per user, each with its own cookies."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.contexts: list[Any] = []
        self.console_errors: list[str] = []

    def page(self, username: str, *, width: int = 1366, height: int = 900) -> Page:
        """Return a page signed in as the user (Chinese UI, as staff use it)."""
        context = self.browser.new_context(base_url=self.base_url,
                                           viewport={"width": width, "height": height},
                                           locale="zh-CN", timezone_id="Asia/Shanghai")
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: self.console_errors.append(f"{username}: {msg.text}")
                if msg.type == "error" and not EXPECTED_STATUS.search(msg.text) else None)
        page.on("pageerror", lambda exc: self.console_errors.append(f"{username}: {exc}"))
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORDS[username])
        page.click("main form.form button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    def close(self) -> None:
        """Close every context opened."""
        for context in self.contexts:
            context.close()


@pytest.fixture
def people(browser: Browser, base_url: str) -> Iterator[People]:
    """Yield a People factory; fail the test when a page logged a script error (CSP, bugs)."""
    crowd = People(browser, base_url)
    yield crowd
    crowd.close()
    assert not crowd.console_errors, "browser console errors:\n" + "\n".join(crowd.console_errors)


def shot(target: Page | Locator, name: str) -> Path:
    """Save a screenshot of a whole page or one element under screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if isinstance(target, Page):
        target.screenshot(path=str(path), full_page=True)
    else:
        target.screenshot(path=str(path))
    return path
