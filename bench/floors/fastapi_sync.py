"""Floor: plain FastAPI, a ``def`` route (run in the threadpool) validating the assign body.

The same as fastapi_async.py but sync, as most FastAPI services are written.
``uvicorn --app-dir bench/floors fastapi_sync:app``.
"""

from __future__ import annotations

from fastapi import FastAPI
from shape import Answer, AssignRequest

app = FastAPI()


@app.post("/v1/assign", response_model=Answer)
def assign(body: AssignRequest) -> Answer:
    return Answer(ok=True, customers=len(body.customers))


@app.get("/readyz")
async def ready() -> dict[str, bool]:
    return {"ok": True}
