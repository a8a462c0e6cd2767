"""GET /v1/segments and GET /v1/model: what the served model is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import SegmenterDep
from app.responses import ModelInfo, Problem, SegmentsResponse

router = APIRouter(prefix="/v1", tags=["model"])


@router.get(
    "/segments",
    response_model=SegmentsResponse,
    summary="The segments of the served model",
    responses={503: {"model": Problem}},
)
def segments(segmenter: SegmenterDep) -> SegmentsResponse:
    loaded = segmenter.current
    return SegmentsResponse(
        model_version=loaded.version,
        feature_names=loaded.model.spec.names,
        segments=list(loaded.derived.segments),  # built when the model loaded
    )


@router.get(
    "/model",
    response_model=ModelInfo,
    summary="Metadata of the served model",
    responses={503: {"model": Problem}},
)
def model(segmenter: SegmenterDep) -> dict[str, Any]:
    return segmenter.current.derived.info
