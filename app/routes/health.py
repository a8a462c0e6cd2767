"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SegmenterDep
from app.errors import NotReady
from app.responses import Health, Problem

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", operation_id="healthz", response_model=Health, summary="Liveness: the process answers"
)
def healthz() -> Health:
    return Health(status="alive")


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
