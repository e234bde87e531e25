"""RFC 9457 problem details for every error answered under ``/v1``.

The middleware turns our error tree, aiohttp's own HTTP errors (404, 405, 413...)
and anything unexpected into ``application/problem+json``. Unexpected errors
become a bare 500 that names only a reference id; the traceback goes to the log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from calsync.errors import Conflict, InvalidInput, NotFound

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
API_PREFIX: Final = "/v1/"
VALIDATION_TYPE: Final = "urn:calsync:problem:validation-error"

log = structlog.get_logger("calsync.api")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ApiProblem(Exception):
    """Raised by views and middlewares to answer with a problem body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def validation_problem(errors: Sequence[FieldError]) -> ApiProblem:
    fields = ", ".join(e.field or "(body)" for e in errors)
    return ApiProblem(
        422,
        f"The request is invalid: {fields}.",
        type_=VALIDATION_TYPE,
        title="Validation failed",
        errors=errors,
    )


def problem_response(problem: ApiProblem, instance: str) -> web.Response:
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if problem.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in problem.errors]
    response = web.Response(
        status=problem.status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )
    return response


# Details for aiohttp's own errors: its default texts ("404: Not Found") say nothing more than the status.
_HTTP_DETAILS: Final = {
    404: "No such resource.",
    405: "The resource does not support this method.",
    413: "The request body is too large.",
    415: "The request body must be application/json.",
}
# Headers of an aiohttp HTTPException that describe the problem (Allow on 405) rather than its old body.
_KEPT_HEADERS: Final = (hdrs.ALLOW, hdrs.WWW_AUTHENTICATE, hdrs.RETRY_AFTER)


def _from_http_exception(exc: web.HTTPException) -> ApiProblem:
    headers = {str(name): exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    detail = _HTTP_DETAILS.get(exc.status, exc.reason)
    return ApiProblem(exc.status, detail, headers=headers)


def to_problem(exc: Exception) -> ApiProblem | None:
    """The problem for an error we know how to explain; None for a bug."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, InvalidInput):
        return validation_problem([FieldError(exc.field, exc.message)])
    if isinstance(exc, NotFound):
        return ApiProblem(404, str(exc) or "No such resource.")
    if isinstance(exc, Conflict):
        return ApiProblem(409, str(exc) or "The request conflicts with the current state.")
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return _from_http_exception(exc)
    return None


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except Exception as exc:
        problem = to_problem(exc)
        if problem is None:
            if isinstance(exc, web.HTTPException):
                raise  # a redirect or success "exception": not an error
            reference = uuid.uuid4().hex
            log.exception("api_unhandled_error", reference=reference, path=request.path)
            problem = ApiProblem(500, f"An unexpected error occurred (reference {reference}).")
        return problem_response(problem, request.path)
