"""google-api-python-client plumbing: one Resource built offline, blocking calls off the event loop.

The client's transport (httplib2) is synchronous and not thread-safe, so every
call gets its own ``httplib2.Http`` wrapped in the account's credentials and
runs in a worker thread. The discovery document is the one bundled with the
library (no network), and ``api_endpoint`` points it at Google or an emulator.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httplib2
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc

from channels.base import AccountCredentials
from channels.google.errors import translate

SCOPES = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
]
HTTP_TIMEOUT = 30.0


class GoogleClient:
    def __init__(self, api_url: str, token_url: str) -> None:
        document = get_static_doc("calendar", "v3")
        if document is None:
            raise RuntimeError("google-api-python-client ships no calendar v3 discovery document")
        self.token_url = token_url
        # The placeholder Http is never used: every request executes with its own authorised Http.
        self.service: Any = build_from_document(
            document, http=httplib2.Http(), client_options={"api_endpoint": api_url.rstrip("/")}
        )
        self._credentials: dict[str, Credentials] = {}

    def credentials(self, account: AccountCredentials) -> Credentials:
        creds = self._credentials.get(account.account_id)
        if creds is None or creds.refresh_token != account.refresh_token:
            creds = Credentials(  # type: ignore[no-untyped-call]
                token=None,
                refresh_token=account.refresh_token,
                client_id=account.client_id,
                client_secret=account.client_secret,
                token_uri=self.token_url,
                scopes=SCOPES,
            )
            self._credentials[account.account_id] = creds
        return creds

    async def execute(
        self, account: AccountCredentials, request: Any, headers: dict[str, str] | None = None
    ) -> Any:
        """Run one prepared request in a worker thread; failures come back as ProviderErrors."""
        creds = self.credentials(account)
        if headers:
            request.headers.update(headers)

        def blocking() -> Any:
            http = AuthorizedHttp(creds, http=httplib2.Http(timeout=HTTP_TIMEOUT))
            return request.execute(http=http, num_retries=0)

        try:
            return await asyncio.to_thread(blocking)
        except Exception as err:  # every failure is translated at this boundary
            raise translate(err) from err
