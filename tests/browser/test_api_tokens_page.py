"""In chromium: a member of staff makes an API token from the user menu, sees it once, revokes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import People, shot

pytestmark = pytest.mark.browser


def test_a_token_is_created_from_the_user_menu_shown_once_and_revoked(people: People) -> None:
    page = people.page("cs_supervisor")
    page.click("details.usermenu summary")
    page.click("a[href='/account/tokens']")
    expect(page.locator("h1")).to_have_text("API 令牌")
    page.fill("#name", "夜间导出脚本")
    page.click("button.btn--primary")
    secret = page.locator("[data-testid=token-secret]")
    expect(secret).to_have_count(1)
    text = secret.inner_text()
    assert text.startswith("pf_") and len(text) > 40
    shot(page, "api-tokens-created")
    page.goto("/account/tokens")
    expect(page.locator("[data-testid=token-secret]")).to_have_count(0)  # shown once only
    row = page.locator("tr", has_text="夜间导出脚本")
    expect(row).to_contain_text("从未使用")
    expect(row).to_contain_text("有效")
    row.locator("button", has_text="吊销").click()
    expect(page.locator("tr", has_text="夜间导出脚本")).to_contain_text("已吊销")
    shot(page, "api-tokens-revoked")
