"""Registers: balances and ledger, stock-in by foreman or above only, CSV export, sealed-key log."""

from __future__ import annotations

from flask import Flask

from department import services
from tests.conftest import T0
from webui.extensions import db

from .conftest import start_case
from .test_instances import signed_in
from .test_key_pages import seal_through_custody


def lines(app: Flask) -> list[tuple[str, str, float, float, str]]:
    """Return (item, kind, quantity, balance after, actor) of every register line."""
    with app.app_context():
        return [(ln.item, ln.kind, ln.quantity, ln.balance_after, ln.actor)
                for ln in services.ledger_lines(db.session)]


def test_a_foreman_records_stock_and_the_balance_follows(web: Flask) -> None:
    client, token = signed_in(web, "cs_foreman", lang="en")
    form = {"item": "alcohol", "quantity": "2.5", "note": "仓库 #17", "csrf_token": token}
    response = client.post("/registers/hazardous-goods/stock-in", follow_redirects=True, data=form)
    page = response.get_data(as_text=True)
    assert "Recorded: 2.5 bottle of Alcohol received; balance now 2.5 bottle." in page
    assert lines(web) == [("alcohol", "stock_in", 2.5, 2.5, "cs_foreman")]
    assert "仓库 #17" in page and '<td class="num">2.5 bottle</td>' in page


def test_managers_rank_above_foreman_and_may_stock_in(web: Flask) -> None:
    client, token = signed_in(web, "cs_manager")
    client.post("/registers/hazardous-goods/stock-in",
                data={"item": "thinner", "quantity": "1", "csrf_token": token})
    assert lines(web) == [("thinner", "stock_in", 1.0, 1.0, "cs_manager")]


def test_stock_in_is_refused_below_foreman(web: Flask) -> None:
    client, token = signed_in(web, "cleaning_foreman")  # reads the register, holds the key, records nothing
    assert client.get("/registers/hazardous-goods").status_code == 200
    assert "/registers/hazardous-goods/stock-in" not in client.get("/registers/hazardous-goods").get_data(
        as_text=True)
    response = client.post("/registers/hazardous-goods/stock-in",
                           data={"item": "alcohol", "quantity": "1", "csrf_token": token})
    assert response.status_code == 403
    client, token = signed_in(web, "cleaner")
    assert client.get("/registers/hazardous-goods").status_code == 403
    assert client.post("/registers/hazardous-goods/stock-in",
                       data={"item": "alcohol", "quantity": "1", "csrf_token": token}).status_code == 403
    assert lines(web) == []


def test_bad_stock_in_names_the_field_and_records_nothing(web: Flask) -> None:
    client, token = signed_in(web, "cs_foreman", lang="en")
    response = client.post("/registers/hazardous-goods/stock-in",
                           data={"item": "petrol", "quantity": "-3", "note": "x", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="item-error"' in page and 'id="quantity-error"' in page
    assert 'value="-3"' in page  # the input is kept
    assert client.post("/registers/hazardous-goods/stock-in",
                       data={"item": "alcohol", "quantity": "1"}).status_code == 400  # no CSRF token
    assert lines(web) == []


def test_the_csv_export_has_the_paper_forms_columns(web: Flask) -> None:
    with web.app_context():
        services.stock_in(db.session, "rodenticide", 3, "入库", "cs_foreman", T0)
        db.session.commit()
    client, _ = signed_in(web, "general_manager")
    response = client.get("/registers/hazardous-goods.csv")
    text = response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    assert text.startswith("\ufeff日期,时间,品名") and "鼠药,入库,3,3" in text
    assert client.get("/registers/hazardous-goods.csv?item=petrol").status_code == 404


def test_the_ledger_filters_by_item_and_links_to_the_print_view(web: Flask) -> None:
    with web.app_context():
        services.stock_in(db.session, "alcohol", 5, "", "cs_foreman", T0)
        services.stock_in(db.session, "thinner", 7, "", "cs_foreman", T0)
        db.session.commit()
    client, _ = signed_in(web, "admin", lang="en")
    page = client.get("/registers/hazardous-goods?item=thinner").get_data(as_text=True)
    ledger = page.split('id="ledger-title"')[1]
    assert "Thinner" in ledger and "Alcohol" not in ledger
    assert 'href="/records/hazardous-goods?item=thinner"' in page
    assert client.get("/registers/hazardous-goods?item=petrol").status_code == 404
    assert client.get("/registers").headers["Location"] == "/registers/hazardous-goods"


def test_the_sealed_key_log_lists_each_archived_use(web: Flask) -> None:
    seal_through_custody(web, "18F-1801", "S-0041")
    case = start_case(web, "sealed_key_usage", {
        "unit": "18F-1801", "reason": "forgot_key", "customer_reachable": "true",
        "customer_can_attend": "true", "application_reference": "SQ-1", "description": "忘带钥匙",
        "applicant_name": "李女士", "applicant_company": "华信公司"}, "cs_assistant")
    with web.app_context():
        services.sealed_key_archive(db.session, case, {
            "unit": "18F-1801", "reason": "forgot_key", "applicant_name": "李女士",
            "applicant_company": "华信公司",
            "used_by": "cs_assistant2", "opened_at": "2026-11-23T02:10:00+00:00",
            "closed_at": "2026-11-23T02:25:00+00:00", "new_seal_number": "S-0042"}, "cs_manager", T0)
        db.session.commit()
    client, _ = signed_in(web, "cs_manager", lang="en")
    page = client.get("/registers/sealed-keys").get_data(as_text=True)
    assert "18F-1801" in page and "Forgot the key" in page and "S-0042" in page
    assert "2026-11-23 10:10" in page  # opened, in the tower's time
    assert f'href="/records/{case}"' in page
    client, _ = signed_in(web, "technician")
    assert client.get("/registers/sealed-keys").status_code == 403


def test_the_ledger_page_shows_fifty_lines_newest_first_and_pages_through_the_rest(web: Flask) -> None:
    with web.app_context():
        for n in range(1, 121):
            services.stock_in(db.session(), "alcohol", n, f"delivery {n:03d}", "cs_foreman", T0)
        db.session.commit()
    client, _token = signed_in(web, "cs_foreman", lang="en")
    def ledger(url: str) -> str:
        return client.get(url).get_data(as_text=True).split('id="ledger-title"')[1]

    first = ledger("/registers/hazardous-goods")
    assert "delivery 120" in first and "delivery 071" in first and "delivery 070" not in first
    last = ledger("/registers/hazardous-goods?page=3")
    assert "delivery 020" in last and "delivery 001" in last and "delivery 021" not in last
    beyond = client.get("/registers/hazardous-goods?page=9").get_data(as_text=True)
    assert beyond.count('class="movement movement--stock_in"') == 0


def test_an_item_has_the_same_name_in_the_request_form_and_in_the_register(web: Flask) -> None:
    client, token = signed_in(web, "cs_foreman")
    form = client.get("/start/hazardous_goods_issuance").get_data(as_text=True)
    client.post("/registers/hazardous-goods/stock-in",
                data={"item": "cockroach_bait", "quantity": "2", "csrf_token": token})
    register = client.get("/registers/hazardous-goods").get_data(as_text=True)
    for key, (zh, _en) in services.HAZARD_ITEMS.items():
        assert f'value="{key}"' in form and zh in form and zh in register
    assert "灭螂药" in form and "灭螂药" in register  # the rule book's word (seed 001 制度11)
    assert "灭蟑药" not in form + register


def test_quantities_show_the_unit_their_item_is_counted_in(web: Flask) -> None:
    client, token = signed_in(web, "cs_foreman")
    client.post("/registers/hazardous-goods/stock-in", data={"item": "thinner", "quantity": "1.5",
                                                              "csrf_token": token})
    client.post("/registers/hazardous-goods/stock-in", data={"item": "alcohol", "quantity": "4",
                                                              "csrf_token": token})
    register = client.get("/registers/hazardous-goods").get_data(as_text=True)
    assert '<td class="num">+1.5 kg</td>' in register and '<td class="num">4 瓶</td>' in register
    printed = client.get("/records/hazardous-goods").get_data(as_text=True)
    assert "稀料（kg）" in printed and "酒精（瓶）" in printed and "灭螂药（包）" in printed
    assert "1.5 kg" in printed and "4 瓶" in printed
