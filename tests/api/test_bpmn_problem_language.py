"""The API's 422 for a refused BPMN upload gives each problem in the Accept-Language language (default zh)."""

from __future__ import annotations

from pathlib import Path

from .conftest import PROCESSES, Api, basic, error_of

REPAIR_XML = (PROCESSES / "repair_dispatch.bpmn").read_text(encoding="utf-8")
NO_ROLE_LANE = REPAIR_XML.replace('name="客服助理 cs_assistant"', 'name="前台"').encode("utf-8")
NO_PROCESS = (Path(__file__).resolve().parents[1] / "data" / "hostile" / "no_process.bpmn").read_bytes()


def upload(api: Api, xml: bytes, language: str | None) -> dict[str, list[str]]:
    """Upload a file as the process owner and return the 422's fields."""
    headers = {**basic("process_owner"), "Content-Type": "application/xml"}
    if language:
        headers["Accept-Language"] = language
    response = api.client.post("/api/v1/process-definitions", data=xml, headers=headers)
    assert response.status_code == 422
    body = error_of(response)
    assert body["error"] == "invalid_bpmn"
    fields: dict[str, list[str]] = body["fields"]
    return fields


def test_bpmn_problems_are_chinese_for_accept_language_zh(api: Api) -> None:
    fields = upload(api, NO_ROLE_LANE, "zh-CN,zh;q=0.9,en;q=0.5")
    assert fields["Lane_cs_assistant"][0].startswith("泳道名称 '前台' 没有以岗位 id 结尾（cs_assistant, ")
    assert upload(api, NO_PROCESS, "zh")["bpmn"] == [
        '一个文件必须恰好包含一个可执行流程（isExecutable="true"）；实际找到：无']


def test_bpmn_problems_are_english_for_accept_language_en(api: Api) -> None:
    fields = upload(api, NO_ROLE_LANE, "en-GB,en;q=0.9")
    english = "lane name '前台' does not end with a role id (cs_assistant, "
    assert fields["Lane_cs_assistant"][0].startswith(english)
    assert upload(api, NO_PROCESS, "en")["bpmn"] == [
        'a file must hold exactly one executable process (isExecutable="true"); found none']


def test_bpmn_problems_default_to_chinese_and_cover_the_encoding_refusal(api: Api) -> None:
    assert upload(api, NO_ROLE_LANE, None)["Lane_cs_assistant"][0].startswith("泳道名称")
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1")
    assert upload(api, latin, "zh")["bpmn"] == ["文件必须使用 UTF-8 编码"]
    assert upload(api, latin, "en")["bpmn"] == ["the file must be UTF-8 encoded"]
