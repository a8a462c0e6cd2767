"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from shopper_segments.app.deps import SegmenterDep
from shopper_segments.app.errors import NotReady
from shopper_segments.app.responses import Health, Problem

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", operation_id="healthz", response_model=Health, summary="Liveness: the process answers"
)
def healthz(segmenter: SegmenterDep) -> Health:
    current = segmenter.current_or_none  # alive either way; the version while a model serves
    return Health(status="alive", model_version=current.version if current else None)


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=Health,
    summary="Readiness: a model is loaded",
    responses={503: {"model": Problem}},
)
def readyz(segmenter: SegmenterDep) -> Health:
    if not segmenter.ready:
        raise NotReady("the model is not loaded yet")
    return Health(status="ready", model_version=segmenter.current.version)
