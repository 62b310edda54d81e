"""The OpenAPI document: valid OpenAPI 3.0, complete for SPEC §5, and its readable page."""

from __future__ import annotations

from typing import Any

from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

from tests.api.conftest import Api

SPEC_OPERATIONS = {
    ("get", "/api/v1/process-definitions"), ("post", "/api/v1/process-definitions"),
    ("get", "/api/v1/process-definitions/{key}"), ("get", "/api/v1/process-definitions/{key}/xml"),
    ("post", "/api/v1/process-instances"), ("get", "/api/v1/process-instances"),
    ("get", "/api/v1/process-instances/{instance_id}"),
    ("get", "/api/v1/process-instances/{instance_id}/history"),
    ("post", "/api/v1/process-instances/{instance_id}/suspend"),
    ("post", "/api/v1/process-instances/{instance_id}/resume"),
    ("post", "/api/v1/process-instances/{instance_id}/terminate"),
    ("post", "/api/v1/process-instances/{instance_id}/retry"),
    ("get", "/api/v1/tasks"), ("post", "/api/v1/tasks/{task_id}/claim"),
    ("post", "/api/v1/tasks/{task_id}/complete"), ("post", "/api/v1/tasks/{task_id}/release"),
    ("post", "/api/v1/tasks/{task_id}/reassign"),
    ("get", "/api/v1/registers/hazardous-goods"), ("post", "/api/v1/registers/hazardous-goods/stock-in"),
    ("get", "/api/v1/registers/sealed-keys"), ("get", "/api/v1/kpis"),
}


def document(api: Api) -> dict[str, Any]:
    """Fetch the OpenAPI document without signing in."""
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.get_json()
    return spec


def test_the_document_is_valid_openapi_3(api: Api) -> None:
    spec = document(api)
    assert spec["openapi"].startswith("3.0")
    errors = [e.message for e in OPENAPI_30_VALIDATOR.iter_errors(spec)]
    assert errors == []


def test_the_document_describes_every_operation_of_the_spec(api: Api) -> None:
    spec = document(api)
    operations = {(method, path) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post")}
    assert operations >= SPEC_OPERATIONS


def test_every_operation_documents_errors_in_the_one_error_shape(api: Api) -> None:
    spec = document(api)
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "message", "fields"}
    default = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"]
    assert default == {"$ref": "#/components/schemas/ErrorOut"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert "default" in operation["responses"], (method, path)


def test_basic_auth_and_the_session_are_the_documented_security(api: Api) -> None:
    spec = document(api)
    assert spec["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert {"basicAuth": []} in spec["security"]


def test_the_reference_page_renders_every_path_from_our_own_server(api: Api) -> None:
    page = api.client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for _method, path in SPEC_OPERATIONS:
        assert path in html
    assert 'id="schema-TaskOut"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    with api.client.get("/api/v1/docs/static/api-docs.css") as css:
        assert css.status_code == 200
