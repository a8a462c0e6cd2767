"""Floor: a plain Starlette app answering a fixed JSON body (the body is read, never parsed).

``uvicorn --app-dir bench/floors starlette_fixed:app``; ``GET /readyz`` for the bench's wait.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FIXED = b'{"ok":true}'


async def fixed(request: Request) -> Response:
    await request.body()
    return Response(FIXED, media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(FIXED, media_type="application/json")


app = Starlette(routes=[Route("/v1/assign", fixed, methods=["POST"]), Route("/readyz", ready)])
