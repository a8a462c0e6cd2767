"""POST /bench/floor: the benchmark's floor, only with SEGMENTS_BENCH_FLOOR=1 (not in the schema).

It validates the /v1/assign body the default FastAPI way (pydantic models from the
parsed JSON) and answers a fixed body: what any endpoint taking this body costs.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from shopper_segments.app.schemas import AssignRequest

router = APIRouter(prefix="/bench", include_in_schema=False)


class FloorAnswer(BaseModel):
    ok: bool
    customers: int


@router.post("/floor", response_model=FloorAnswer)
def floor(body: AssignRequest) -> FloorAnswer:
    return FloorAnswer(ok=True, customers=len(body.customers))
