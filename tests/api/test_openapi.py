"""The OpenAPI document: valid 3.1, and exactly the routes the router serves under /v1."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.api.conftest import Api


async def test_document_is_valid_openapi_31(api: Api) -> None:
    response = await api.client.get("/v1/openapi.json")
    assert response.status == 200 and response.content_type == "application/json"
    document = await response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_document_matches_the_router(api: Api) -> None:
    document = await (await api.client.get("/v1/openapi.json")).json()
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/v1/")
    }
    assert documented == served


async def test_document_describes_bodies_security_and_problems(api: Api) -> None:
    document = await (await api.client.get("/v1/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearerApiKey"] == {"type": "http", "scheme": "bearer"}
    put = document["paths"]["/v1/appointments/{id}"]["put"]
    body_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = document["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"profile", "start", "end"} <= set(body_schema["required"])
    for status in ("200", "201", "401", "412", "413", "415", "422", "500"):
        assert status in put["responses"], status
    assert "application/problem+json" in put["responses"]["422"]["content"]
    assert document["paths"]["/v1/openapi.json"]["get"]["security"] == []
