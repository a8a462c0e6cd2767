"""POST /v1/assign: segments for a batch of customers."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import QueryParams
from starlette.routing import Match, request_response
from starlette.types import Receive, Scope, Send

from shopper_segments.app.config import Settings
from shopper_segments.app.errors import ServiceError, error_message, field_error
from shopper_segments.app.guards import json_body
from shopper_segments.app.limits import Limits, refuse
from shopper_segments.app.microbatch import Asked, MicroBatcher, answer_requests
from shopper_segments.app.parsing import parse_assign
from shopper_segments.app.responses import AssignResponse, Problem
from shopper_segments.app.upload_files import CSV_TYPES, PARQUET_TYPES, media_type


class AssignRoute(APIRoute):
    """POST /v1/assign for every body but CSV and Parquet (the upload route's), answered directly.

    Registered before every other router, so the service's busiest request is matched first.
    Without dependencies (no API keys configured) the endpoint, which reads its request
    itself, is called as Starlette calls one, without FastAPI's per-request dependency
    solving of nothing. Both together: one customer 254 -> 209-215 us of CPU in process.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.direct = None if self.dependant.dependencies else request_response(self.endpoint)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # API keys are a dependency of the router's inclusion, not of the route: asked here
        if self.direct is not None and scope["method"] == "POST" and not scope["app"].state.settings.api_keys:
            await self.direct(scope, receive, send)
        else:
            await super().handle(scope, receive, send)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and media_type(scope) in UPLOAD_TYPES:
            return Match.NONE, {}
        return match, child


UPLOAD_TYPES = frozenset((*CSV_TYPES, *PARQUET_TYPES))
router = APIRouter(prefix="/v1", tags=["segments"], route_class=AssignRoute)


# The hot path reads its query, app state and content type itself, not through declared
# parameters and dependencies: FastAPI's solving of them cost ~10% of answering one customer.
require_json = json_body(*CSV_TYPES, *PARQUET_TYPES)
_BOOL = TypeAdapter(bool)  # a query flag read as FastAPI reads a ``bool`` parameter
QUERY_FLAGS: dict[str, str] = {
    "explain": "add per-feature explanations",
    "strict": "refuse the request (422) if any customer is invalid or has no purchase",
}

# The body is parsed from raw bytes in one pass (app.parsing) by checks generated from
# AssignRequest, which also documents it here: one schema, no second parse.
ASSIGN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AssignRequest"}},
            # the upload route (app.routes.upload) takes these on the same path
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "transaction lines, UTF-8, a header row naming the columns "
                    "customer_id, timestamp and any of order_id, amount, quantity, unit_price, "
                    "category, product_id; query: as_of, strict, explain",
                },
                "example": "customer_id,order_id,timestamp,amount,category\n"
                "12347,536626,2011-12-01T14:22:00Z,25.5,kitchen\n"
                "12347,537001,2011-11-20,40.0,garden\n"
                "C-1001,538002,20111105T101500Z,12.0,kitchen\n",
            },
            "application/vnd.apache.parquet": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "a Parquet file with the columns of the CSV upload; errors name the row",
                }
            },
        },
    },
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "boolean", "description": text, "default": False, "title": name.title()},
            "description": text,
        }
        for name, text in QUERY_FLAGS.items()
    ],
}


@router.post(
    "/assign",
    operation_id="assign",
    response_model=AssignResponse,
    summary="Assign customers (histories or precomputed features) to segments",
    responses={
        200: {
            "description": "the answer; with `Accept: text/csv` (file uploads) the result columns as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        422: {"model": Problem},
        413: {"model": Problem},
        503: {"model": Problem},
    },
    openapi_extra=ASSIGN_BODY,
)
async def assign(request: Request) -> Response:
    explain, strict = query_flags(request.scope["query_string"])
    await require_json(request)
    body = await request.body()
    content, version = await answer_json(body, request.app.state, explain, strict)
    request.state.model_version = version  # for the access log
    return Response(content, media_type="application/json", headers={"X-Model-Version": version})


async def answer_json(body: bytes, state: Any, explain: bool, strict: bool) -> tuple[bytes, str]:
    """The answer to a JSON /v1/assign body: its bytes and the model version that gave it.

    Used by the route and by :mod:`app.hotpath` (the same request at the ASGI level).
    """
    settings: Settings = state.settings
    # A small body costs less to answer than the hop to a worker thread would, so it is
    # answered on the event loop, with the others parsed in the same loop turn (app.microbatch);
    # larger ones go to a thread and leave the loop free, at most ``assign_threads`` at once:
    # the GIL runs one at a time, so more threads only switch (16 batches of 1,000 customers
    # at once: 40.0 ms of CPU each in 40 threads, 33.4 in one).
    if len(body) <= settings.inline_body_bytes:
        batcher: MicroBatcher = state.batcher
        return await batcher.answer(*asked_of(body, settings, explain, strict))
    return await anyio.to_thread.run_sync(
        answer_assign, body, state, explain, strict, limiter=state.assign_limiter
    )


def answer_assign(body: bytes, state: Any, explain: bool, strict: bool) -> tuple[bytes, str]:
    """Parse, assign, record and serialize one JSON /v1/assign request (alone: a large one)."""
    (outcome,) = answer_requests(state, [asked_of(body, state.settings, explain, strict)])
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def asked_of(body: bytes, settings: Settings, explain: bool, strict: bool) -> Asked:
    """The body parsed and held to the limits, with the query's flags or the body's."""
    parsed = parse_assign(body, strict, limits_of(settings))
    return Asked(parsed, strict or parsed.get("strict", False), explain or parsed.get("explain", False))


def query_flags(query_string: bytes) -> tuple[bool, bool]:
    """``?explain`` and ``?strict`` as booleans (false when absent); 422 naming a bad one."""
    if not query_string:
        return False, False
    query, flags, errors = QueryParams(query_string), [], []
    for name in QUERY_FLAGS:
        try:
            flags.append(name in query and _BOOL.validate_python(query[name]))
        except ValidationError as exc:
            errors.append(field_error(name, error_message(dict(exc.errors(include_url=False)[0]))))
    if errors:
        raise refuse(errors)
    return flags[0], flags[1]


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.max_customers, settings.max_transactions, settings.max_lines)
