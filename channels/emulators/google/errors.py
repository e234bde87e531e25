"""Google's error responses, with the exact bodies of the Calendar "Handle API errors" guide.

Every failure inside the emulator is an :class:`ApiError`; the app middleware renders it as
``{"error": {"errors": [{domain, reason, message, ...}], "code", "message"}}``.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


class ApiError(Exception):
    """One Google API error: HTTP status plus the single ``errors[0]`` entry."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location_type: str | None = None,
        location: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location_type = location_type
        self.location = location
        self.headers = headers or {}

    def body(self) -> Json:
        detail: Json = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location_type is not None:
            detail["locationType"] = self.location_type
        if self.location is not None:
            detail["location"] = self.location
        return {"error": {"errors": [detail], "code": self.status, "message": self.message}}


def auth_error() -> ApiError:
    return ApiError(
        401,
        "authError",
        "Invalid Credentials",
        location_type="header",
        location="Authorization",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def duplicate() -> ApiError:
    return ApiError(409, "duplicate", "The requested identifier already exists.")


def deleted() -> ApiError:
    return ApiError(410, "deleted", "Resource has been deleted")


def instance_not_movable() -> ApiError:
    """events.move of one instance of a series: only the whole series changes organizer."""
    return ApiError(400, "cannotChangeOrganizerOfInstance", "Cannot change the organizer of an instance.")


def full_sync_required() -> ApiError:
    return ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location_type="parameter",
        location="syncToken",
    )


def condition_not_met() -> ApiError:
    return ApiError(
        412, "conditionNotMet", "Precondition Failed", location_type="header", location="If-Match"
    )


def time_range_empty(location: str) -> ApiError:
    return ApiError(
        400,
        "timeRangeEmpty",
        "The specified time range is empty.",
        domain="calendar",
        location_type="parameter",
        location=location,
    )


def invalid(message: str = "Invalid Value", location: str | None = None) -> ApiError:
    return ApiError(
        400,
        "invalid",
        message,
        location_type="parameter" if location else None,
        location=location,
    )


def required(message: str = "Required", location: str | None = None) -> ApiError:
    return ApiError(
        400, "required", message, location_type="parameter" if location else None, location=location
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "badRequest", message)


def forbidden(reason: str, message: str) -> ApiError:
    return ApiError(403, reason, message)


# Injected faults: bodies exactly as the errors guide shows them.
FAULTS: dict[str, tuple[int, str, str, str]] = {
    "rateLimitExceeded": (403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    "rateLimitExceeded429": (429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    "userRateLimitExceeded": (403, "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded"),
    "quotaExceeded": (403, "usageLimits", "quotaExceeded", "Calendar usage limits exceeded."),
    "backendError": (500, "global", "backendError", "Backend Error"),
}


def fault(kind: str) -> ApiError:
    status, domain, reason, message = FAULTS[kind]
    return ApiError(status, reason, message, domain=domain)
