"""``/v1/organizations``: the tenants. An org-scoped key may only touch its own organization."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from calsync.errors import NotFound
from daemon.api.auth import principal_of
from daemon.api.body import json_response, path_id, read_model
from daemon.api.problems import ApiProblem
from daemon.api.registry import Reply, Route, id_param
from daemon.api.schemas import OrganizationIn, OrganizationOut
from daemon.appkeys import CLOCK, DATABASE
from store.organizations import get_organization, upsert_organization
from store.tables import Organization

PATH: Final = "/v1/organizations/{id}"


def organization_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "webhook_url": org.webhook_url,
        "created_at": org.created_at.isoformat(),
    }


async def put_organization(request: web.Request) -> web.Response:
    org_id = path_id(request, 64)
    principal = principal_of(request)
    if not principal.can_see(org_id):
        raise ApiProblem(403, "This API key is limited to another organization.")
    body = await read_model(request, OrganizationIn)
    async with request.app[DATABASE].session() as session:
        org, created = await upsert_organization(
            session, org_id, body.name, body.webhook_url, request.app[CLOCK].now()
        )
        payload = organization_json(org)
    return json_response(payload, 201 if created else 200)


async def get_organization_view(request: web.Request) -> web.Response:
    org_id = path_id(request, 64)
    if not principal_of(request).can_see(org_id):
        raise NotFound(f"no organization {org_id!r}")
    async with request.app[DATABASE].session() as session:
        payload = organization_json(await get_organization(session, org_id))
    return json_response(payload)


_ORG = id_param("id", "organization", 64)

ROUTES: Final = (
    Route(
        "PUT",
        PATH,
        put_organization,
        "putOrganization",
        "Create or update an organization",
        "organizations",
        description="Idempotent: 201 when created, 200 when it existed (name and webhook_url replaced).",
        params=(_ORG,),
        body=OrganizationIn,
        replies={
            201: Reply("Created.", OrganizationOut),
            200: Reply("Updated or unchanged.", OrganizationOut),
        },
        problems=(400, 413, 415, 422),
    ),
    Route(
        "GET",
        PATH,
        get_organization_view,
        "getOrganization",
        "Read an organization",
        "organizations",
        params=(_ORG,),
        replies={200: Reply("The organization.", OrganizationOut)},
        problems=(404, 422),
    ),
)
