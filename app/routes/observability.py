"""GET /metrics (Prometheus text) and GET /v1/drift (rolling window vs training)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from shopper_segments.app.deps import SegmenterDep
from shopper_segments.app.responses import DriftResponse, Problem
from shopper_segments.app.security import API_KEY_RESPONSES, ApiKeyDep

router = APIRouter()


def _drift_report(request: Request, segmenter: Any) -> dict[str, Any] | None:
    if not segmenter.ready:
        return None
    loaded = segmenter.current
    report: dict[str, Any] = request.app.state.drift.report(loaded.derived.reference)
    return report


@router.get(
    "/metrics",
    operation_id="metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request, segmenter: SegmenterDep) -> Response:
    model = None
    if segmenter.ready:
        model = dict(segmenter.current.derived.labels)
    body = request.app.state.metrics.render(model, _drift_report(request, segmenter))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/v1/drift",
    operation_id="getDrift",
    tags=["operations"],
    response_model=DriftResponse,
    summary="Drift of recent assignments against the training distribution",
    responses={503: {"model": Problem}, **API_KEY_RESPONSES},
)
def drift(request: Request, segmenter: SegmenterDep, _key: ApiKeyDep) -> dict[str, Any]:
    report: dict[str, Any] = request.app.state.drift.report(
        segmenter.current.derived.reference  # NotReady (503) without a model
    )
    return report
