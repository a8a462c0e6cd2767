"""The service's error hierarchy and its one mapping to RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Map every error, ours and the framework's, to one problem-details shape."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, request.url.path, exc.errors, exc.headers)

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


def error_message(error: dict[str, Any]) -> str:
    """A pydantic error's message, without pydantic's \"Value error, \" prefix."""
    if error.get("type") == "json_invalid":
        where = error.get("loc", ("body", "?"))[-1]
        return f"malformed JSON at character {where}: {error.get('ctx', {}).get('error', 'cannot be parsed')}"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")
