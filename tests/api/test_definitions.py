"""Process definitions: list, versions, XML with ETag, and deploying BPMN files."""

from __future__ import annotations

from tests.api.conftest import Api, basic, error_of
from tests.bpmn_builder import Process, field_xml


def two_step(title: str = "check") -> str:
    """Return a small valid process: start → one user task → end."""
    p = Process("api_check", starters="cs_assistant")
    p.start(fields=[field_xml("note")], lane="cs_assistant").user("review", "cs_assistant", name=title).end()
    p.chain("start", "review", "end")
    return p.xml()


def test_list_shows_the_deployed_processes_with_totals(api: Api) -> None:
    listing = api.ok("GET", "/process-definitions?per_page=2", "cs_assistant")
    assert listing["total"] >= 4 and listing["page"] == 1 and listing["per_page"] == 2
    assert len(listing["items"]) == 2
    everything = api.ok("GET", "/process-definitions", "cs_assistant")
    keys = {p["key"] for p in everything["items"]}
    assert {"repair_dispatch", "complaint_handling", "sealed_key_usage", "hazardous_goods_issuance"} <= keys


def test_one_process_has_versions_starters_and_its_start_form_in_the_callers_language(api: Api) -> None:
    zh = api.ok("GET", "/process-definitions/repair_dispatch", "cs_assistant")
    en = api.get("/process-definitions/repair_dispatch", "cs_assistant",
                 headers={"Accept-Language": "en-GB,en;q=0.8"}).get_json()
    assert zh["latest_version"] == 1 and zh["versions"][0]["version"] == 1
    assert zh["starters"] == ["cs_assistant"]
    names = [f["name"] for f in zh["start_form"]["fields"]]
    assert {"channel", "unit", "category", "paid"} <= set(names)
    assert zh["name"] == zh["name_zh"] and en["name"] == en["name_en"] != zh["name"]
    label_zh = next(f["label"] for f in zh["start_form"]["fields"] if f["name"] == "unit")
    label_en = next(f["label"] for f in en["start_form"]["fields"] if f["name"] == "unit")
    assert label_zh != label_en


def test_unknown_process_is_404(api: Api) -> None:
    response = api.get("/process-definitions/no_such_process", "cs_assistant")
    assert response.status_code == 404
    assert error_of(response)["error"] == "not_found"


def test_xml_comes_with_an_etag_and_if_none_match_gives_304(api: Api) -> None:
    first = api.get("/process-definitions/repair_dispatch/xml", "cs_assistant")
    assert first.status_code == 200 and first.mimetype == "application/xml"
    assert b"repair_dispatch" in first.data
    etag = first.headers["ETag"]
    again = api.get("/process-definitions/repair_dispatch/xml", "cs_assistant",
                    headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = api.get("/process-definitions/repair_dispatch/xml", "cs_assistant",
                    headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_xml_of_a_missing_version_is_404(api: Api) -> None:
    assert api.get("/process-definitions/repair_dispatch/xml?version=1", "admin").status_code == 200
    assert api.get("/process-definitions/repair_dispatch/xml?version=7", "admin").status_code == 404


def test_deploy_raw_xml_creates_a_version_then_reports_unchanged(api: Api) -> None:
    headers = {**basic("process_owner"), "Content-Type": "application/xml"}
    created = api.client.post("/api/v1/process-definitions?filename=check.bpmn", data=two_step(),
                              headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json() == {"process_key": "api_check", "version": 1,
                                  "version_id": created.get_json()["version_id"], "created": True}
    same = api.client.post("/api/v1/process-definitions", data=two_step(), headers=headers)
    assert same.status_code == 200 and same.get_json()["created"] is False
    changed = api.client.post("/api/v1/process-definitions", data=two_step("check again"),
                              headers={**basic("admin"), "Content-Type": "text/xml"})
    assert changed.status_code == 201 and changed.get_json()["version"] == 2


def test_deploy_as_a_multipart_upload(api: Api) -> None:
    import io

    response = api.client.post("/api/v1/process-definitions", headers=basic("process_owner"),
                               data={"file": (io.BytesIO(two_step().encode()), "check.bpmn")},
                               content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    versions = api.ok("GET", "/process-definitions/api_check", "process_owner")["versions"]
    assert versions[0]["deployed_by"] == "process_owner"


def test_deploy_needs_process_owner_or_admin(api: Api) -> None:
    response = api.client.post("/api/v1/process-definitions", data=two_step(),
                               headers={**basic("cs_manager"), "Content-Type": "application/xml"})
    assert response.status_code == 403
    assert error_of(response)["error"] == "forbidden"


def test_invalid_bpmn_is_422_with_every_problem_by_element_id(api: Api) -> None:
    p = Process("api_broken")
    p.start(lane="cs_assistant").user("review", "no_such_role").user("again", "cs_assistant")
    p.chain("start", "review", "end_missing")
    response = api.client.post("/api/v1/process-definitions", data=p.xml(),
                               headers={**basic("process_owner"), "Content-Type": "application/xml"})
    assert response.status_code == 422
    body = error_of(response)
    assert body["error"] == "invalid_bpmn"
    assert len(body["fields"]) >= 2, body
    assert any(key in body["fields"] for key in ("lane_no_such_role", "review")), body
    listing = api.ok("GET", "/process-definitions", "admin")
    assert "api_broken" not in {p["key"] for p in listing["items"]}


def test_garbage_and_doctype_uploads_are_422(api: Api) -> None:
    headers = {**basic("process_owner"), "Content-Type": "application/xml"}
    garbage = api.client.post("/api/v1/process-definitions", data=b"not xml at all", headers=headers)
    assert garbage.status_code == 422 and "bpmn" in error_of(garbage)["fields"]
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>'
    assert api.client.post("/api/v1/process-definitions", data=doctype, headers=headers).status_code == 422
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1")
    assert api.client.post("/api/v1/process-definitions", data=latin, headers=headers).status_code == 422


def test_deploy_with_another_body_type_is_415(api: Api) -> None:
    response = api.post("/process-definitions", "process_owner", {"xml": "<x/>"})
    assert response.status_code == 415
    assert error_of(response)["error"] == "unsupported_media_type"


def test_deploy_answers_with_the_versions_etag_and_refuses_a_stale_if_match_with_412(api: Api) -> None:
    headers = {**basic("process_owner"), "Content-Type": "application/xml"}
    first = api.client.post("/api/v1/process-definitions", data=two_step(), headers=headers)
    etag = first.headers["ETag"]
    xml = api.get("/process-definitions/api_check/xml", "process_owner")
    assert first.status_code == 201 and etag == xml.headers["ETag"]
    second = api.client.put("/api/v1/process-definitions/api_check", data=two_step("second"),
                            headers={**headers, "If-Match": etag})
    assert second.status_code == 201 and second.get_json()["version"] == 2
    assert second.headers["ETag"] not in (etag, None)
    # Someone still holding version 1's ETag must not overwrite version 2.
    for method in (api.client.post, api.client.put):
        url = "/api/v1/process-definitions" + ("/api_check" if method == api.client.put else "")
        stale = method(url, data=two_step("mine"), headers={**headers, "If-Match": etag})
        assert stale.status_code == 412 and error_of(stale)["error"] == "precondition_failed"
    any_version = api.client.put("/api/v1/process-definitions/api_check", data=two_step("mine"),
                                 headers={**headers, "If-Match": "*"})
    assert any_version.status_code == 201 and any_version.get_json()["version"] == 3
    versions = api.ok("GET", "/process-definitions/api_check", "process_owner")["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]


def test_put_refuses_a_file_of_another_process_key(api: Api) -> None:
    response = api.client.put("/api/v1/process-definitions/repair_dispatch", data=two_step(),
                              headers={**basic("process_owner"), "Content-Type": "application/xml"})
    assert response.status_code == 422 and "api_check" in error_of(response)["fields"]
    listing = api.ok("GET", "/process-definitions", "admin")
    assert "api_check" not in {p["key"] for p in listing["items"]}


def test_deploy_a_camunda_file_converts_it_and_reports_what_was_converted(api: Api) -> None:
    from pathlib import Path

    leak = (Path(__file__).resolve().parents[1] / "data" / "camunda" / "leak_report.bpmn").read_bytes()
    headers = {**basic("process_owner"), "Content-Type": "application/xml", "Accept-Language": "en"}
    response = api.client.post("/api/v1/process-definitions?dialect=camunda&filename=leak.bpmn", data=leak,
                               headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["process_key"] == "leak_report"
    dropped = [line for line in body["conversion"] if not line["converted"]]
    assert {line["element_id"] for line in dropped} == {"Activity_mail", "Activity_assess"}
    assert any(line["element_id"] == "Activity_assess" and "lane role 'cs_supervisor'" in line["message"]
               for line in body["conversion"])
    stored = api.client.get("/api/v1/process-definitions/leak_report/xml", headers=basic("admin"))
    assert b"camunda" not in stored.data.split(b"?>", 1)[1].replace(b"Camunda Modeler", b"")


def test_a_refused_camunda_file_carries_the_conversion_report_with_the_problems(api: Api) -> None:
    from pathlib import Path

    leak = (Path(__file__).resolve().parents[1] / "data" / "camunda" / "leak_report.bpmn").read_text("utf-8")
    broken = leak.replace('candidateGroups="technician"', 'candidateGroups="plumbers"')
    response = api.client.post("/api/v1/process-definitions?dialect=camunda", data=broken.encode(),
                               headers={**basic("process_owner"), "Content-Type": "application/xml"})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert "lane_plumbers" in fields and fields["conversion"]
    assert api.client.post("/api/v1/process-definitions?dialect=jbpm", data=broken.encode(),
                           headers={**basic("process_owner"),
                                    "Content-Type": "application/xml"}).status_code == 422
