"""Every error as RFC 7807 ``application/problem+json``.

A bad input names the field, the value and what is allowed, in the CLI's words
(:func:`y90dose.validation.describe_error`). Status codes: domain ``InputError`` and
request validation 422, unknown resource 404, missing/invalid key 401, role too low 403,
conflict (approving a blocked plan) 409, upload too big 413.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from y90dose.errors import InputError, Y90DoseError
from y90dose.validation import describe_error

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:y90dose:problem:"
REQUEST_LOCATIONS = ("body", "query", "path", "header", "cookie")

logger = logging.getLogger("y90dose.service")


class ProblemError(Exception):
    """Raise from a route to answer with a problem document.

    Parameters
    ----------
    status
        HTTP status code.
    kind
        Short problem type (``"not-found"``), becomes ``urn:y90dose:problem:<kind>``.
    detail
        One human sentence about this occurrence.
    extra
        Extension members added to the document.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers


def not_found(resource: str, resource_id: str) -> ProblemError:
    """404 naming the resource type and id."""
    return ProblemError(404, "not-found", f"no {resource} with id {resource_id!r}")


def _jsonable(value: Any) -> Any:
    """A value safe to put in JSON (NaN/inf and odd objects as text)."""
    if isinstance(value, str):  # unpaired surrogates shown escaped: the answer is UTF-8
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def field_error(field: str, value: Any, allowed: str, location: str = "body") -> dict[str, Any]:
    """One entry of a problem's ``errors`` list."""
    return {
        "field": _jsonable(field),
        "value": _jsonable(value),
        "allowed": _jsonable(allowed),
        "location": location,
    }


def sentence(field: str, value: Any, allowed: str) -> str:
    """The CLI's wording: ``field: value is not allowed; expected allowed``."""
    shown = "missing" if value is None else repr(value)
    return f"{field}: {shown} is not allowed; expected {allowed}"


def problem_response(
    status: int,
    kind: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - only standard codes are used
        title = "Error"
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def invalid_input(errors: list[dict[str, Any]]) -> JSONResponse:
    """422 listing every bad field; ``detail`` states the first in the CLI's words."""
    first = errors[0]
    return problem_response(
        422,
        "invalid-input",
        sentence(first["field"], first["value"], first["allowed"]),
        {"errors": errors},
    )


def _split_location(loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    if loc and loc[0] in REQUEST_LOCATIONS:
        return str(loc[0]), tuple(loc[1:])
    return "body", tuple(loc)


async def _on_request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location, loc = _split_location(tuple(error.get("loc", ())))
        field, value, allowed = describe_error({**error, "loc": loc})
        if not any(not isinstance(part, int) for part in loc):
            # the request part as a whole (an empty body, a list instead of an object):
            # name the part and show what was sent, not "input" / "(this combination ...)"
            field = location
            value = None if error.get("type") == "missing" else error.get("input")
        errors.append(field_error(field, value, allowed, location))
    return invalid_input(errors or [field_error("body", None, "a valid request")])


async def _on_input_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    return invalid_input([field_error(exc.field, exc.value, exc.allowed)])


async def _on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    return problem_response(422, "unusable-input", str(exc))


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.kind, exc.detail, exc.extra, exc.headers)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI's bare 400 for a JSON body its parser gave up on (not UTF-8, too deep)
        return invalid_input(
            [
                field_error(
                    "body",
                    f"(unreadable: {type(exc.__cause__).__name__})",
                    "a JSON object in UTF-8 (Content-Type: application/json)",
                )
            ]
        )
    kind = {
        404: "not-found",
        405: "method-not-allowed",
        408: "request-timeout",
        413: "too-large",
    }.get(exc.status_code, "http-error")
    return problem_response(
        exc.status_code, kind, str(exc.detail), headers=getattr(exc, "headers", None)
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("internal error on %s %s", request.method, request.url.path)
    return problem_response(
        500, "internal", f"internal error ({type(exc).__name__}); nothing was stored"
    )


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(InputError, _on_input_error)
    app.add_exception_handler(Y90DoseError, _on_domain_error)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_exception_handler(InvalidInputError, _on_invalid_input)


class InvalidInputError(Exception):
    """Several bad fields at once (a pydantic ValidationError turned into field errors)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["field"] if errors else "input")
        self.errors = errors


def errors_of(exc: Any, prefix: str = "", location: str = "body") -> list[dict[str, Any]]:
    """Field errors of a pydantic ``ValidationError``, fields prefixed with ``prefix``."""
    out = []
    for error in exc.errors():
        field, value, allowed = describe_error(error)
        if prefix:
            field = prefix if field == "input" else f"{prefix}.{field}"
        out.append(field_error(field, value, allowed, location))
    return out


async def _on_invalid_input(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInputError)
    return invalid_input(exc.errors)
