"""msgraph-sdk plumbing: one shared httpx pipeline, one GraphServiceClient per account, errors translated.

kiota's RetryHandler is **disabled** (``max_retries=0``). It would retry 429/503/504 itself (3 times,
honouring Retry-After) while holding one of the mailbox's 4 concurrency slots, sleeping on the real
clock, without slowing the account's other callers; and stacked under our own
``call_with_retries`` (5 attempts) the two layers would multiply into up to 20 requests and hidden
waits. One layer decides instead: ``channels.retry`` drains the account's token bucket for the whole
Retry-After so every concurrent caller of that mailbox waits too (MS-THR "keep honoring").

The rest of the SDK's default pipeline stays (redirects, the ``/users/me-token-to-replace`` -> ``/me``
URL replacement that a custom client would otherwise lose — providers.md §7 surprise (a)).
Reads go through the SDK's request builders but come back as raw JSON (``send_primitive_async``
"bytes"), because normalization works on Graph's wire JSON: the models drop nothing we need on
writes, but ``@removed`` and ``@odata.etag`` are plainest in the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption, UrlReplaceHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from calsync.clock import Clock
from calsync.errors import AuthorizationRevoked, PermanentProviderError
from channels.base import AccountCredentials
from channels.graph.credential import RefreshTokenCredential
from channels.graph.errors import Unauthorized, translate

T = TypeVar("T")
#: Delegated permissions; explicit scopes so the token provider never derives "{host}/.default".
SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"]
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
ERROR_MAPPING: dict[str, Any] = {"XXX": ODataError}

#: (account id, rotated refresh token) -> persisted.
RotationSink = Callable[[str, str], Awaitable[None]]


def _pipeline(timeout: httpx.Timeout) -> httpx.AsyncClient:
    options: dict[str, Any] = {
        UrlReplaceHandlerOption.get_key(): UrlReplaceHandlerOption(
            enabled=True, replacement_pairs={"/users/me-token-to-replace": "/me"}
        ),
        RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False),
    }
    client: httpx.AsyncClient = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(timeout=timeout), options=options
    )
    return client


class _Account:
    def __init__(self, credential: RefreshTokenCredential, graph: GraphServiceClient) -> None:
        self.credential = credential
        self.graph = graph


class GraphClient:
    def __init__(
        self,
        api_url: str,
        token_url: str,
        clock: Clock,
        *,
        on_rotate: RotationSink | None = None,
        timeout: httpx.Timeout = REQUEST_TIMEOUT,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self._clock = clock
        self._on_rotate = on_rotate
        self._http = _pipeline(timeout)
        self._token_http = httpx.AsyncClient(timeout=timeout)
        self._accounts: dict[str, _Account] = {}

    def credential(self, account: AccountCredentials) -> RefreshTokenCredential:
        return self._account(account).credential

    def _account(self, account: AccountCredentials) -> _Account:
        known = self._accounts.get(account.account_id)
        if known is not None and known.credential.knows(account.refresh_token):
            return known
        sink = self._on_rotate

        async def rotated(token: str) -> None:
            if sink is not None:
                await sink(account.account_id, token)

        credential = RefreshTokenCredential(
            token_url=self.token_url,
            client_id=account.client_id,
            client_secret=account.client_secret,
            refresh_token=account.refresh_token,
            http=self._token_http,
            clock=self._clock,
            on_rotate=rotated,
        )
        adapter = GraphRequestAdapter(
            AzureIdentityAuthenticationProvider(credential, scopes=SCOPES), client=self._http
        )
        adapter.base_url = self.api_url
        entry = self._accounts[account.account_id] = _Account(
            credential, GraphServiceClient(request_adapter=adapter)
        )
        return entry

    async def run(
        self,
        account: AccountCredentials,
        call: Callable[[GraphServiceClient], Awaitable[T]],
        *,
        delta: bool = False,
    ) -> T:
        """One SDK call; a 401 refreshes the access token once, then means re-consent."""
        entry = self._account(account)
        for attempt in range(2):
            try:
                return await call(entry.graph)
            except Exception as err:  # every failure is translated at this boundary
                mapped = translate(err, delta=delta)
                if isinstance(mapped, Unauthorized) and attempt == 0:
                    entry.credential.invalidate()
                    continue
                if isinstance(mapped, Unauthorized):
                    raise AuthorizationRevoked(f"{mapped} after a token refresh") from err
                if mapped is err:
                    raise
                raise mapped from err
        raise AssertionError("unreachable")

    async def get_json(
        self,
        account: AccountCredentials,
        build: Callable[[GraphServiceClient], RequestInformation],
        *,
        delta: bool = False,
    ) -> dict[str, Any]:
        """Send a request built by an SDK builder and return the response body as Graph's JSON."""

        async def call(graph: GraphServiceClient) -> bytes | None:
            info = build(graph)
            adapter: Any = graph.request_adapter
            raw = await adapter.send_primitive_async(info, "bytes", ERROR_MAPPING)
            return raw if isinstance(raw, bytes) else None

        raw = await self.run(account, call, delta=delta)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as err:
            raise PermanentProviderError(f"graph answered with non-JSON: {err}") from err
        if not isinstance(data, dict):
            raise PermanentProviderError("graph answered with a JSON value that is not an object")
        return data

    async def close(self) -> None:
        await self._http.aclose()
        await self._token_http.aclose()
