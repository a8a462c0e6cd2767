"""POST /v1/assign with a CSV or Parquet body of transaction lines (answers JSON or CSV).

This route matches only CSV and Parquet bodies, the JSON one every other body. The upload
becomes the JSON request its lines describe and is answered by the same segmenter call.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from shopper_segments.app.deps import SegmenterDep, SettingsDep
from shopper_segments.app.errors import InvalidInput, PayloadTooLarge, field_error
from shopper_segments.app.limits import check_counts
from shopper_segments.app.observe import observe
from shopper_segments.app.responses import AssignResponse, Problem
from shopper_segments.app.routes.assign import limits_of
from shopper_segments.app.segmenter import answer
from shopper_segments.app.upload_files import CSV_TYPES, PARQUET_TYPES, media_type, read_upload
from shopper_segments.app.uploads import answer_csv, relabel, relabel_answer, upload_request
from shopper_segments.core.rules import parse_timestamp


class UploadRoute(APIRoute):
    """Matches only requests whose body is CSV or Parquet."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and media_type(scope) not in CSV_TYPES + PARQUET_TYPES:
            return Match.NONE, {}
        return match, child


router = APIRouter(prefix="/v1", tags=["segments"], route_class=UploadRoute)


@router.post(
    "/assign",
    response_model=AssignResponse,
    include_in_schema=False,
    responses={422: {"model": Problem}, 413: {"model": Problem}},
)
async def assign_upload(
    request: Request,
    segmenter: SegmenterDep,
    settings: SettingsDep,
    as_of: Annotated[
        str | None, Query(description="reference time, ISO 8601 as the lines; default now (UTC)")
    ] = None,
    explain: Annotated[bool, Query(description="add per-feature explanations")] = False,
    strict: Annotated[bool, Query(description="refuse the upload if any customer is not assigned")] = False,
) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_body_bytes:
            raise PayloadTooLarge(
                f"body: larger than {settings.max_body_bytes} bytes; use python -m training assign"
            )
    when = None
    if as_of is not None:
        try:
            when = parse_timestamp(as_of)
        except ValueError as exc:
            raise InvalidInput(f"as_of: {exc}", [field_error("as_of", str(exc))]) from exc
    kind = media_type(request.scope)
    wants_csv = "text/csv" in request.headers.get("accept", "")
    options = (when, explain, strict, wants_csv)
    return await run_in_threadpool(_score, request, segmenter, settings, bytes(body), kind, options)


def _score(
    request: Request,
    segmenter: Any,
    settings: Any,
    body: bytes,
    kind: str,
    options: tuple[dt.datetime | None, bool, bool, bool],
) -> Any:
    as_of, explain, strict, wants_csv = options
    limits = limits_of(settings)
    frame, word = read_upload(body, kind, limits)
    assign_request, lines_of, missing_ids = upload_request(frame, word, as_of, explain)
    check_counts(assign_request, limits)
    loaded = segmenter.current  # once: the whole answer, explanations and CSV columns too
    request.state.model_version = loaded.version  # for the access log
    try:
        assigned = segmenter.assign_arrays(assign_request, settings.max_future_days, loaded, strict)
    except InvalidInput as exc:
        raise relabel(exc, lines_of, word) from exc
    whys = observe(request.app.state, assigned, explain)
    payload = answer(assigned, whys)
    relabel_answer(payload, lines_of, word)
    if missing_ids:  # rows nobody bought: dropped and counted (rule missing_customer_id)
        payload["summary"]["lines_dropped"]["missing_customer_id"] = missing_ids
    version = {"X-Model-Version": loaded.version}
    if wants_csv:
        return Response(answer_csv(payload, loaded.model.spec.names), media_type="text/csv", headers=version)
    return Response(
        orjson.dumps(payload, option=orjson.OPT_UTC_Z), media_type="application/json", headers=version
    )
