"""``/v1/organizations``: the tenants. An org-scoped key may only touch its own organization.

Host webhook secret (Standard Webhooks, ``whsec_...``): generated when an organization first
gets a ``webhook_url`` and returned once, in that PUT's response (``webhook_secret``);
``POST /v1/organizations/{id}/webhook-secret`` rotates it and returns the new one once. It is
stored encrypted with ``CALSYNC_SECRET_KEY`` and never shown again.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web
from pydantic import Field

from calsync.crypto import Cipher
from calsync.errors import NotFound, SecretsError
from daemon.api.auth import principal_of
from daemon.api.body import json_response, path_id, read_model
from daemon.api.problems import ApiProblem
from daemon.api.registry import Reply, Route, id_param
from daemon.api.schemas import OrganizationIn, OrganizationOut
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from handlers.host_webhook import new_secret
from store.organizations import get_organization, upsert_organization
from store.tables import Organization

PATH: Final = "/v1/organizations/{id}"
SECRET_PATH: Final = "/v1/organizations/{id}/webhook-secret"


class OrganizationWithSecretOut(OrganizationOut):
    webhook_secret: str | None = Field(
        default=None,
        description="The host webhook signing secret (whsec_...): present only in the response that "
        "created or rotated it; store it, it is never shown again.",
    )


def _set_new_secret(request: web.Request, org: Organization) -> str:
    """Mint a secret, store it encrypted on ``org``; the caller returns it once."""
    try:
        cipher = Cipher(request.app[SETTINGS].secret_keys)
        secret = new_secret()
        org.webhook_secret_enc = cipher.encrypt(secret)
    except SecretsError as err:
        raise ApiProblem(503, f"Cannot store a webhook secret: {err}") from err
    return secret


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
        if org.webhook_url and not org.webhook_secret_enc:
            payload["webhook_secret"] = _set_new_secret(request, org)
            session.add(org)
    return json_response(payload, 201 if created else 200)


async def rotate_webhook_secret(request: web.Request) -> web.Response:
    org_id = path_id(request, 64)
    principal = principal_of(request)
    if not principal.can_see(org_id):
        raise NotFound(f"no organization {org_id!r}")
    async with request.app[DATABASE].session() as session:
        org = await get_organization(session, org_id)
        payload = organization_json(org)
        payload["webhook_secret"] = _set_new_secret(request, org)
        session.add(org)
    return json_response(payload)


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
            201: Reply("Created.", OrganizationWithSecretOut),
            200: Reply("Updated or unchanged.", OrganizationWithSecretOut),
        },
        problems=(400, 413, 415, 422, 503),
    ),
    Route(
        "POST",
        SECRET_PATH,
        rotate_webhook_secret,
        "rotateOrganizationWebhookSecret",
        "Rotate the host webhook signing secret",
        "organizations",
        description="Replaces the secret at once and returns the new one, once: every delivery from "
        "now on, retries included, is signed with the new secret.",
        params=(_ORG,),
        replies={200: Reply("The organization and its new webhook_secret.", OrganizationWithSecretOut)},
        problems=(404, 422, 503),
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
