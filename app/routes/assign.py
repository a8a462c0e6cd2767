"""POST /v1/assign: segments for a batch of customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.config import Settings
from app.deps import SegmenterDep, SettingsDep
from app.errors import InvalidInput, field_error
from app.observe import after_assign
from app.schemas import AssignRequest, AssignResponse, Problem

router = APIRouter(prefix="/v1", tags=["segments"])


@router.post(
    "/assign",
    response_model=AssignResponse,
    summary="Assign customers (histories or precomputed features) to segments",
    responses={422: {"model": Problem}, 413: {"model": Problem}, 503: {"model": Problem}},
)
def assign(
    body: AssignRequest,
    request: Request,
    segmenter: SegmenterDep,
    settings: SettingsDep,
    explain: Annotated[bool, Query(description="add per-feature explanations")] = False,
) -> AssignResponse:
    check_limits(body, settings)
    response = segmenter.assign(body, settings.max_future_days)
    after_assign(request.app.state, segmenter, response, explain or body.explain)
    return response


def check_limits(body: AssignRequest, settings: Settings) -> None:
    """Refuse requests over the customer and per-customer line limits."""
    errors = []
    if len(body.customers) > settings.max_customers:
        errors.append(
            field_error(
                "customers", f"has {len(body.customers)} customers; the limit is {settings.max_customers}"
            )
        )
    for i, cust in enumerate(body.customers):
        if cust.transactions is not None and len(cust.transactions) > settings.max_transactions:
            errors.append(
                field_error(
                    f"customers[{i}].transactions",
                    f"has {len(cust.transactions)} lines; the limit is {settings.max_transactions}",
                )
            )
    if errors:
        raise InvalidInput(errors[0]["field"] + ": " + errors[0]["message"], errors)
