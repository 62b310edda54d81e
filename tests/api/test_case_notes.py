"""Comments and attachments on a case: photos stored by content hash outside the database, thumbnails."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from flask import Flask
from PIL import Image
from werkzeug.test import TestResponse

from tests.api.conftest import Api, basic, error_of


def photo(width: int = 1200, height: int = 900) -> bytes:
    """Return a JPEG as a phone camera would send it."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def upload(api: Api, instance_id: int, user: str, data: bytes, name: str = "leak.jpg") -> TestResponse:
    """POST one file as multipart."""
    return api.client.post(f"/api/v1/process-instances/{instance_id}/attachments", headers=basic(user),
                           data={"file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")


def test_comments_are_written_listed_and_enter_the_history(api: Api) -> None:
    case = api.start_repair()
    task = case["open_tasks"][0]
    said = api.ok("POST", f"/process-instances/{case['id']}/comments", "engineering_dispatcher",
                  {"body": "水管接口渗漏", "task_id": task["id"]}, status=201)
    assert said["author"] == "engineering_dispatcher" and said["task_id"] == task["id"]
    listed = api.ok("GET", f"/process-instances/{case['id']}/comments", "cs_assistant")
    assert [c["body"] for c in listed] == ["水管接口渗漏"]
    history = api.ok("GET", f"/process-instances/{case['id']}/history", "admin")["items"]
    assert [h["message"] for h in history if h["kind"] == "comment"] == ["水管接口渗漏"]
    empty = api.post(f"/process-instances/{case['id']}/comments", "cs_assistant", {"body": "  "})
    assert empty.status_code == 422 and "body" in error_of(empty)["fields"]
    assert api.post(f"/process-instances/{case['id']}/comments", "housekeeping",
                    {"body": "x"}).status_code == 403


def test_a_photo_is_stored_once_by_hash_with_a_thumbnail(api: Api, app: Flask) -> None:
    case = api.start_repair()
    data = photo()
    response = upload(api, case["id"], "cs_assistant", data)
    assert response.status_code == 201, response.get_data(as_text=True)
    sent = response.get_json()
    digest = hashlib.sha256(data).hexdigest()
    assert sent["sha256"] == digest and sent["content_type"] == "image/jpeg" and sent["thumbnail"] is True
    assert sent["size"] == len(data)
    stored = list((Path(app.instance_path) / "files").rglob(digest))
    assert len(stored) == 1 and stored[0].read_bytes() == data  # on disk, not in a row
    again = upload(api, case["id"], "cs_assistant", data, name="same.jpg").get_json()
    assert again["sha256"] == digest and again["id"] != sent["id"]
    url = f"/api/v1/process-instances/{case['id']}/attachments/{sent['id']}"
    with api.client.get(url, headers=basic("cs_assistant")) as full:
        assert full.status_code == 200 and full.data == data and full.mimetype == "image/jpeg"
    with api.client.get(url + "?thumbnail=true", headers=basic("cs_assistant")) as small, \
            Image.open(io.BytesIO(small.data)) as thumb:
        assert max(thumb.size) <= 320
    assert api.client.get(url, headers=basic("housekeeping")).status_code == 403
    listed = api.ok("GET", f"/process-instances/{case['id']}/attachments", "admin")
    assert [a["filename"] for a in listed] == ["leak.jpg", "same.jpg"]


def test_refused_files_name_the_reason(api: Api, app: Flask) -> None:
    case = api.start_repair()
    script = upload(api, case["id"], "cs_assistant", b"<script>alert(1)</script>", name="x.jpg")
    assert script.status_code == 422 and "not a photo" in error_of(script)["fields"]["file"][0]
    app.config["BPM_MAX_UPLOAD_BYTES"] = 1000
    big = upload(api, case["id"], "cs_assistant", photo())
    assert big.status_code in (413, 422)
    assert api.ok("GET", f"/process-instances/{case['id']}/attachments", "admin") == []
