"""GET /v1/segments and GET /v1/model: what the served model is."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shopper_segments.app.deps import SegmenterDep
from shopper_segments.app.responses import ModelInfo, Problem, SegmentsResponse

router = APIRouter(prefix="/v1", tags=["model"])


@router.get(
    "/segments",
    operation_id="listSegments",
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
    operation_id="getModel",
    response_model=ModelInfo,
    summary="Metadata of the served model",
    responses={503: {"model": Problem}},
)
def model(segmenter: SegmenterDep) -> JSONResponse:
    # Checked against ModelInfo when the model loaded (app.served): answered as it stands,
    # since the strict contract model would not re-read its own JSON form in Python mode.
    return JSONResponse(segmenter.current.derived.info)
