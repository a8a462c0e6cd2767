"""The service's error hierarchy and its one mapping to RFC 9457 problem details."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ValidationException
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from shopper_segments.app.access import request_id
from shopper_segments.app.logs import mark_logged

logger = logging.getLogger("segments")

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: FastAPI's detail for a body it fails to decode.
BODY_PARSE_ERROR = "There was an error parsing the body"


class ServiceError(Exception):
    """Base of every error the API reports; subclasses set status and title."""

    status = 500
    title = "Internal error"

    def __init__(
        self, detail: str, errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers


class InvalidInput(ServiceError):
    status, title = 422, "Invalid input"


class PayloadTooLarge(ServiceError):
    status, title = 413, "Payload too large"


class UnsupportedMediaType(ServiceError):
    status, title = 415, "Unsupported media type"


class Unauthorized(ServiceError):
    status, title = 401, "Unauthorized"


class Forbidden(ServiceError):
    status, title = 403, "Forbidden"


class NotReady(ServiceError):
    status, title = 503, "Model not ready"


class ModelRefused(ServiceError):
    status, title = 409, "Model refused"


class RequestTimeout(ServiceError):
    status, title = 408, "Request timeout"


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'customers', 3, 'customer_id') -> 'customers[3].customer_id'."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Map every error, ours and the framework's, to one problem-details shape."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return service_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            field_error(
                "body" if e.get("type") == "json_invalid" else loc_to_field(e.get("loc", ())),
                error_message(e),
            )
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        return problem(422, "Invalid input", detail, request.url.path, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body it can't decode (e.g. not UTF-8): malformed JSON, like the rest.
            message = "malformed JSON: the body cannot be decoded (JSON must be UTF-8)"
            return problem(
                422, "Invalid input", f"body: {message}", request.url.path, [field_error("body", message)]
            )
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(
            exc.status_code, title, str(exc.detail), request.url.path, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer; uvicorn's own "Exception in ASGI application"
        # line for it is dropped (app.logs.LoggedOnceFilter): this is the one line.
        return unhandled_problem(request.scope, exc)


def service_problem(exc: ServiceError, path: str) -> JSONResponse:
    """The answer to one of our errors."""
    return problem(exc.status, exc.title, exc.detail, path, exc.errors, exc.headers)


def unhandled_problem(scope: Scope, exc: Exception) -> JSONResponse:
    """The answer to an exception nothing else handled, logged once (a client gone: 400)."""
    rid = str(scope.get("state", {}).get("request_id") or request_id(scope))
    mark_logged(exc)
    path = scope.get("path", "")
    where = {"request_id": rid, "method": scope.get("method"), "path": path}
    if isinstance(exc, ClientDisconnect):
        # The client left, or a guard answered (408, 413) and ended the body: nobody reads this.
        logger.info("request body cut short (client gone, or answered by a guard)", extra=where)
        return problem(400, "Client disconnected", "client disconnected", path)
    logger.error(
        "unhandled exception",
        extra={**where, "exc_type": exception_type(exc), "exc_message": safe_message(exc)}
        | {"stack": safe_stack(exc)},
    )
    return problem(
        500, "Internal error", "internal error", path, headers={"X-Request-ID": rid}, request_id=rid
    )


def exception_type(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def safe_message(exc: BaseException) -> str:
    """The exception's message; for validation errors without the ``input`` (request data) they carry."""
    found: list[Any]
    if isinstance(exc, pydantic.ValidationError):
        found = exc.errors(include_url=False, include_context=False, include_input=False)
    elif isinstance(exc, ValidationException):
        found = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
    else:
        return str(exc)
    listed = "; ".join(f"{loc_to_field(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in found)
    return f"{len(found)} validation error(s): {listed}"


def safe_stack(exc: BaseException) -> str:
    """The traceback as Python prints it (causes first), with :func:`safe_message` messages."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = (
                current.__cause__,
                "The above exception was the direct cause of the following exception:",
            )
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = (
                current.__context__,
                "During handling of the above exception, another exception occurred:",
            )
        else:
            current = None
    parts: list[str] = []
    for index, (item, _) in enumerate(reversed(chain)):
        if index:
            parts.append(f"\n{chain[len(chain) - index][1]}\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_list(traceback.extract_tb(item.__traceback__)))
        parts.append(f"{exception_type(item)}: {safe_message(item)}\n")
    return "".join(parts)


def error_message(error: dict[str, Any]) -> str:
    """A pydantic error's message, without pydantic's \"Value error, \" prefix."""
    if error.get("type") == "json_invalid":
        where = error.get("loc", ("body", "?"))[-1]
        return f"malformed JSON at character {where}: {error.get('ctx', {}).get('error', 'cannot be parsed')}"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")
