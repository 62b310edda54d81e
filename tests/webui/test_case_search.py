"""Finding a case in seconds: one box over number, unit, phone and names; sort; where each case stands."""

from __future__ import annotations

from flask import Flask

from .conftest import REPAIR, start_case
from .test_inbox import client_for, dispatch


def _cases(app: Flask) -> tuple[int, int]:
    first = start_case(app, "repair_dispatch", REPAIR, "cs_assistant")
    second = start_case(app, "repair_dispatch", {**REPAIR, "unit": "8F-801", "reporter_name": "李女士",
                                                  "contact_phone": "13900002222"}, "cs_assistant")
    dispatch(app, second, "technician2")
    return first, second


def _found(html: str, case_ids: list[int]) -> list[str]:
    return [f"{i:06d}" for i in case_ids if f">{i:06d}</a>" in html]


def test_one_box_finds_a_case_by_number_unit_phone_and_names(process_app: Flask) -> None:
    first, second = _cases(process_app)
    manager = client_for(process_app, "cs_manager")
    both = [first, second]
    for query, expected in ((f"{second:06d}", [second]), (str(first), [first]), ("8f-801", [second]),
                            ("13900002222", [second]), ("2222", [second]), ("李女士", [second]),
                            ("王先生", [first]), ("维修技工2", [second]), ("nobody-at-all", [])):
        html = manager.get("/instances", query_string={"q": query}).get_data(as_text=True)
        assert _found(html, both) == [f"{i:06d}" for i in expected], query


def test_the_list_shows_current_step_holder_and_due_and_sorts(process_app: Flask) -> None:
    first, second = _cases(process_app)
    html = client_for(process_app, "cs_manager").get("/instances").get_data(as_text=True)
    assert "当前步骤" in html and "到达现场" in html and "维修技工2（technician2）" in html
    assert "工程部调度" in html  # the first case waits for the dispatcher role
    assert html.index(f">{second:06d}<") < html.index(f">{first:06d}<")  # newest first
    oldest = client_for(process_app, "cs_manager").get("/instances?sort=-started").get_data(as_text=True)
    assert oldest.index(f">{first:06d}<") < oldest.index(f">{second:06d}<")


def test_an_assistant_finds_their_cases_from_the_menu(process_app: Flask) -> None:
    first, _second = _cases(process_app)
    assistant = client_for(process_app, "cs_assistant")
    assert 'href="/instances"' in assistant.get("/inbox").get_data(as_text=True)
    html = assistant.get("/instances?mine=1&q=12F-1203").get_data(as_text=True)
    assert _found(html, [first]) == [f"{first:06d}"]
    # Someone with no part in a case does not find it.
    assert _found(client_for(process_app, "housekeeping").get("/instances?q=12F").get_data(as_text=True),
                  [first]) == []
