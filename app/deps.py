"""Dependencies shared by the routes; tests override them.

They are ``async def`` because they only read app state: FastAPI runs a plain ``def``
dependency in the threadpool, a hop that costs more than the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopper_segments.app.config import Settings, get_settings
from shopper_segments.app.segmenter import Segmenter


async def get_segmenter(request: Request) -> Segmenter:
    segmenter: Segmenter = request.app.state.segmenter
    return segmenter


SegmenterDep = Annotated[Segmenter, Depends(get_segmenter)]


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (``get_settings()`` unless a test passed its own)."""
    settings: Settings = getattr(request.app.state, "settings", None) or get_settings()
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
