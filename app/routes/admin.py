"""POST /v1/admin/reload: activate another model without a restart (admin key required)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header

from app.deps import SegmenterDep, SettingsDep
from app.errors import Forbidden, Unauthorized
from app.reload import reload_model
from app.schemas import Problem, ReloadRequest, ReloadResponse


def require_admin(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """``Authorization: Bearer <SEGMENTS_ADMIN_KEY>``; without a configured key admin is disabled."""
    challenge = {"WWW-Authenticate": 'Bearer realm="admin"'}
    if settings.admin_key is None:
        raise Forbidden("admin endpoints are disabled: no admin key is configured (SEGMENTS_ADMIN_KEY)")
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("send the admin key as 'Authorization: Bearer <key>'", headers=challenge)
    if not hmac.compare_digest(key.strip().encode(), settings.admin_key.get_secret_value().encode()):
        raise Forbidden("the admin key is not valid")


router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Load a model directory under the model root beside the serving one, then swap it in",
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        409: {"model": Problem, "description": "the model was refused; the old one keeps serving"},
        422: {"model": Problem},
    },
)
def reload(
    segmenter: SegmenterDep, settings: SettingsDep, body: ReloadRequest | None = None
) -> ReloadResponse:
    target = settings.model_dir if body is None or body.model_dir is None else Path(body.model_dir)
    previous, loaded = reload_model(segmenter, target, "admin endpoint")
    return ReloadResponse(
        model_version=loaded.version,
        previous_version=previous,
        model_dir=loaded.path.relative_to(segmenter.model_root).as_posix(),
    )
