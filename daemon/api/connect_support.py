"""What the connection views share: the sync runtime's parts, and provider trouble as problems.

Provider errors are named after what the operator does next: ``AuthorizationRevoked``
-> 409, reconnect the account; transient trouble -> 503 with ``Retry-After``; anything
else the provider will never accept -> 502. A missing ``CALSYNC_SECRET_KEY`` is a 503
that says how to make one: calsync never stores or reads provider credentials in clear.
"""

from __future__ import annotations

import math
from typing import Final

import structlog
from aiohttp import hdrs, web

from calsync.crypto import Cipher
from calsync.errors import (
    AuthorizationRevoked,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    SecretsError,
    TransientProviderError,
)
from channels.base import AccountCredentials, ProviderCalendar
from daemon.api.problems import ApiProblem
from daemon.appkeys import CLOCK, DATABASE
from daemon.sync_wiring import SYNC
from handlers.adapters import ADAPTERS
from handlers.channels import ChannelManager
from store import accounts
from store.tables import ProviderAccount

log = structlog.get_logger("calsync.api.connect")

DEFAULT_RETRY_AFTER: Final = 30  # seconds, when the provider named no delay
NO_KEY_DETAIL: Final = (
    "CALSYNC_SECRET_KEY is not set: calsync refuses to store or use provider credentials unencrypted. "
    "Generate a key with `calsync secret-key`, set CALSYNC_SECRET_KEY and restart the daemon."
)


def cipher_of(app: web.Application) -> Cipher:
    runtime = app.get(SYNC)
    return runtime.cipher if runtime is not None else Cipher(())


def channel_manager(app: web.Application) -> ChannelManager | None:
    """The running channel manager; None before the bus started (the renewal loop catches up)."""
    runtime = app.get(SYNC)
    return runtime.channels if runtime is not None else None


def require_cipher(app: web.Application) -> Cipher:
    cipher = cipher_of(app)
    if not cipher.enabled:
        raise secrets_problem(None)
    return cipher


def secrets_problem(err: SecretsError | None) -> ApiProblem:
    detail = NO_KEY_DETAIL
    if err is not None and "CALSYNC_SECRET_KEY" not in str(err):
        # A key is set but cannot read this row (rotated away): say so, still naming the variable.
        detail = f"{err}. Check CALSYNC_SECRET_KEY (generate keys with `calsync secret-key`)."
    return ApiProblem(503, detail, type_="urn:calsync:problem:secret-key-missing")


def provider_problem(err: ProviderError) -> ApiProblem:
    if isinstance(err, AuthorizationRevoked):
        return ApiProblem(
            409,
            "The provider refused this account's credentials: reconnect the account "
            "(DELETE it, then POST /v1/accounts with a new refresh token).",
            type_="urn:calsync:problem:reconnect-account",
        )
    if isinstance(err, TransientProviderError):
        retry = err.retry_after if isinstance(err, RateLimited) and err.retry_after else DEFAULT_RETRY_AFTER
        return ApiProblem(
            503,
            "The calendar provider is unavailable or asks us to slow down; try again later.",
            type_="urn:calsync:problem:provider-unavailable",
            headers={hdrs.RETRY_AFTER: str(max(1, math.ceil(retry)))},
        )
    if isinstance(err, PermanentProviderError) and "no adapter registered" in str(err):
        return ApiProblem(
            503,
            f"This daemon has no adapter for the provider: {err}.",
            type_="urn:calsync:problem:no-adapter",
        )
    return ApiProblem(
        502, f"The calendar provider refused the request: {err}.", type_="urn:calsync:problem:provider-error"
    )


def require_connected(account: ProviderAccount) -> None:
    if account.state == "disconnected":
        raise ApiProblem(
            409,
            f"Account {account.id} is disconnected; connect it again with POST /v1/accounts.",
            type_="urn:calsync:problem:account-disconnected",
        )


def credentials_of(app: web.Application, account: ProviderAccount) -> AccountCredentials:
    require_connected(account)
    try:
        return accounts.credentials(account, require_cipher(app))
    except SecretsError as err:
        raise secrets_problem(err) from err


async def list_provider_calendars(app: web.Application, creds: AccountCredentials) -> list[ProviderCalendar]:
    """The provider's calendars of the account, or a problem; a refused token marks the account."""
    try:
        return await app[ADAPTERS].get(creds.provider).list_calendars(creds)
    except AuthorizationRevoked as err:
        async with app[DATABASE].session() as session:
            await accounts.mark_account_error(session, creds.account_id, str(err), app[CLOCK].now())
        raise provider_problem(err) from err
    except ProviderError as err:
        log.warning("provider_list_calendars_failed", account_id=creds.account_id, error=str(err))
        raise provider_problem(err) from err
