"""Floor: plain FastAPI, an ``async def`` route validating the assign body with pydantic (shape.py).

No middleware; the answer is a fixed-shape response model. ``uvicorn --app-dir bench/floors
fastapi_async:app``.
"""

from __future__ import annotations

from fastapi import FastAPI
from shape import Answer, AssignRequest

app = FastAPI()


@app.post("/v1/assign", response_model=Answer)
async def assign(body: AssignRequest) -> Answer:
    return Answer(ok=True, customers=len(body.customers))


@app.get("/readyz")
async def ready() -> dict[str, bool]:
    return {"ok": True}
