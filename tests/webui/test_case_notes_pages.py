"""Notes and photos from the task page: saved with the case, in its history and on the print view."""

from __future__ import annotations

import io

from flask import Flask
from PIL import Image

from .conftest import REPAIR, open_task, start_case
from .test_inbox import client_for, dispatch


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 60, 40)).save(out, "JPEG")
    return out.getvalue()


def test_a_technician_adds_a_comment_and_a_photo_on_the_task(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id, "technician")
    arrive = open_task(process_app, instance_id, "arrive_on_site")
    technician = client_for(process_app, "technician")
    page = technician.get(f"/tasks/{arrive}").get_data(as_text=True)
    assert 'capture="environment"' in page and 'accept="image/*,application/pdf"' in page
    response = technician.post(f"/instances/{instance_id}/notes", data={
        "body": "水管接口渗漏，已关阀", "task_id": arrive, "next": f"/tasks/{arrive}",
        "file": (io.BytesIO(_jpeg()), "leak.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{arrive}"
    page = technician.get(f"/tasks/{arrive}").get_data(as_text=True)
    assert "已保存到案件" in page and "水管接口渗漏，已关阀" in page
    assert "?thumbnail=true" in page and "维修技工（technician）附上了 leak.jpg" in page  # in the history
    record = client_for(process_app, "cs_manager").get(f"/records/{instance_id}").get_data(as_text=True)
    assert "水管接口渗漏，已关阀" in record and "?thumbnail=true" in record


def test_a_file_that_is_not_a_photo_is_refused_with_the_reason(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    assistant = client_for(process_app, "cs_assistant")
    response = assistant.post(f"/instances/{instance_id}/notes", data={
        "next": f"/instances/{instance_id}", "file": (io.BytesIO(b"MZ\x90\x00"), "virus.jpg")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    page = assistant.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "未保存" in page and "只能附上照片" in page and "virus.jpg" not in page


def test_phone_numbers_on_a_case_are_tap_to_call(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    task_id = open_task(process_app, instance_id, "dispatch")
    page = client_for(process_app, "engineering_dispatcher").get(f"/tasks/{task_id}").get_data(as_text=True)
    assert '<a class="tel" href="tel:13800001111">13800001111</a>' in page
    detail = client_for(process_app, "cs_manager").get(f"/instances/{instance_id}").get_data(as_text=True)
    assert 'href="tel:13800001111"' in detail
