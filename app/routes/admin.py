"""POST /v1/admin/reload: activate another model without a restart (admin key required)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request

from shopper_segments.app.deps import SegmenterDep, SettingsDep
from shopper_segments.app.reload import announce, reload_model
from shopper_segments.app.responses import Problem, ReloadResponse
from shopper_segments.app.schemas import ReloadRequest
from shopper_segments.app.security import ADMIN_RESPONSES, require_admin

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    "/reload",
    operation_id="reloadModel",
    response_model=ReloadResponse,
    summary="Load a model directory under the model root beside the serving one, then swap it in",
    responses={
        **ADMIN_RESPONSES,
        409: {"model": Problem, "description": "the model was refused; the old one keeps serving"},
        422: {"model": Problem},
    },
)
def reload(
    request: Request, segmenter: SegmenterDep, settings: SettingsDep, body: ReloadRequest | None = None
) -> ReloadResponse:
    target = settings.model_dir if body is None or body.model_dir is None else Path(body.model_dir)
    previous, loaded = reload_model(segmenter, target, "admin endpoint")
    # The server's other workers load the same directory at their next LATEST check.
    request.app.state.watcher.mark_seen(announce(request.app.state.metrics.shared_dir, loaded.path))
    return ReloadResponse(
        model_version=loaded.version,
        previous_version=previous,
        model_dir=loaded.path.relative_to(segmenter.model_root).as_posix(),
    )
