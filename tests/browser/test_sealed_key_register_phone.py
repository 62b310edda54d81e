"""The sealed-key register on a phone: cells keep whole words on a line, the table scrolls instead."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import expect

from department import services
from tests.conftest import T0
from tests.webui.conftest import start_case
from tests.webui.test_key_pages import seal_through_custody
from webui.extensions import db

from .conftest import People, shot

# Cells whose text box is narrower than two characters: the one-character-per-line wrap.
SQUEEZED_CELLS = """() => [...document.querySelectorAll('table.table--sealed th, table.table--sealed td')]
  .filter(cell => cell.textContent.trim().length >= 2)
  .filter(cell => {
    const style = getComputedStyle(cell);
    const inner = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return inner < 2 * parseFloat(style.fontSize);
  })
  .map(cell => cell.textContent.trim())"""


def test_the_sealed_key_register_does_not_wrap_one_character_per_line_on_a_phone(
        people: People, live_app: Flask) -> None:
    seal_through_custody(live_app, "21F-2101", "S-2101")
    case = start_case(live_app, "sealed_key_usage", {
        "unit": "21F-2101", "reason": "forgot_key", "customer_reachable": "true",
        "customer_can_attend": "true", "application_reference": "SQ-21", "description": "忘带钥匙",
        "applicant_name": "李女士", "applicant_company": "华信公司"}, "cs_assistant")
    with live_app.app_context():
        services.sealed_key_archive(db.session, case, {
            "unit": "21F-2101", "reason": "forgot_key", "applicant_name": "李女士",
            "applicant_company": "华信公司", "used_by": "cs_assistant2",
            "opened_at": "2026-11-23T02:10:00+00:00", "closed_at": "2026-11-23T02:25:00+00:00",
            "new_seal_number": "S-2102"}, "cs_manager", T0)
        db.session.commit()
    phone = people.page("cs_manager", width=390, height=844)
    phone.goto("/registers/sealed-keys")
    table = phone.locator("table.table--sealed")
    expect(table).to_contain_text("21F-2101")
    expect(table).to_contain_text("S-2102")
    assert phone.evaluate(SQUEEZED_CELLS) == []
    # The page itself stays phone-wide; only the table's own box scrolls sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "sealed-key-register-phone")
