"""One request's customers -> an outcome each (assigned, no_purchases, invalid), and its answer."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from shopper_segments.app.errors import InvalidInput, field_error
from shopper_segments.app.histories import EPOCH, as_utc, history_lines, to_ns
from shopper_segments.app.limits import refuse
from shopper_segments.core.features import feature_matrix
from shopper_segments.core.model import Assignment
from shopper_segments.core.results import Status

if TYPE_CHECKING:
    from shopper_segments.app.segmenter import LoadedModel


class Assigned(NamedTuple):
    """One request's customers placed by one model version, as arrays.

    ``X`` and ``result`` hold the assigned customers only (``rows``: their places in
    the request). The answer, the metrics, the drift window and the explanations all
    read this, so nothing is rebuilt from the response.
    """

    loaded: LoadedModel
    as_of: dt.datetime
    customer_ids: list[str | None]
    status: list[Status]
    errors: list[list[dict[str, str]]]
    dropped: list[dict[str, int]]
    rows: list[int]
    X: np.ndarray  # features in original units, spec order, of the assigned customers
    result: Assignment


def assign_request(
    request: dict[str, Any], loaded: LoadedModel, max_future_days: float, strict: bool = False
) -> Assigned:
    """Features plus nearest segment for every customer of a request given as plain data.

    Parameters
    ----------
    request : dict
        An :class:`AssignRequest` as plain data (:func:`app.parsing.parse_assign`); a
        customer may carry ``_errors`` (its schema errors) from parsing.
    loaded : LoadedModel
        The model version to answer with.
    max_future_days : float
        Tolerance for timestamps past now (clock skew).
    strict : bool
        Refuse the whole request when any customer is not assigned (all or nothing).

    Raises
    ------
    InvalidInput
        A request-level problem (``as_of``), or with ``strict`` any customer's problem.
    """
    as_of, latest = request_as_of(request, dt.datetime.now(dt.UTC), max_future_days)
    assigned = assign_customers(request["customers"], loaded, as_of, latest)
    if strict:
        refuse_unless_all_assigned(assigned, request["customers"])
    return assigned


def request_as_of(
    request: dict[str, Any], now: dt.datetime, max_future_days: float
) -> tuple[dt.datetime, dt.datetime]:
    """The request's ``as_of`` (default ``now``) and the latest time allowed; 422 if out of range."""
    as_of = as_utc(request["as_of"]) if request.get("as_of") else now
    latest = now + dt.timedelta(days=max_future_days)
    if not EPOCH <= as_of <= latest:
        problem = "is in the future" if as_of > latest else "is before 1970-01-01"
        raise InvalidInput(f"as_of: {problem}", [field_error("as_of", problem)])
    return as_of, latest


def assign_customers(
    customers: list[dict[str, Any]],
    loaded: LoadedModel,
    as_of: dt.datetime,
    latest: dt.datetime,
    starts: list[int] | None = None,
) -> Assigned:
    """Every customer's outcome, features and segment, as of one time.

    ``starts``: where each request begins in ``customers`` when several requests with the
    same ``as_of`` are assigned together (:mod:`app.microbatch`); a customer id must then be
    unique within its own request, and errors name a customer by its place in its request.
    """
    spec = loaded.model.spec
    m = len(customers)
    place: list[int] | range = range(m)
    request_of = [0] * m
    if starts is not None:
        spans = list(zip(starts, [*starts[1:], m], strict=True))
        place = [i - s for s, e in spans for i in range(s, e)]
        request_of = [r for r, (s, e) in enumerate(spans) for _ in range(s, e)]
    ids = [c.get("customer_id") for c in customers]
    errors: list[list[dict[str, str]]] = [list(c.get("_errors", ())) for c in customers]
    dropped: list[dict[str, int]] = [{} for _ in range(m)]
    no_purchase = [False] * m
    first: dict[tuple[int, str], int] = {}
    for i, cid in enumerate(ids):
        if cid is not None and first.setdefault((request_of[i], cid), i) != i:
            other = place[first[request_of[i], cid]]
            errors[i].append(
                field_error(f"customers[{place[i]}].customer_id", f"duplicates customers[{other}]")
            )
    H: np.ndarray | None = None
    placed: list[int] = []
    histories = [
        (i, c) for i, c in enumerate(customers) if not errors[i] and c.get("transactions") is not None
    ]
    if histories and spec.is_table:
        for i, _ in histories:
            message = "this model is trained on a customer table: send features"
            errors[i].append(field_error(f"customers[{place[i]}].transactions", message))
    elif histories:
        named = histories if starts is None else [(place[i], c) for i, c in histories]  # for messages
        found = history_lines(named, spec, as_of, latest)
        for k, (i, _) in enumerate(histories):
            errors[i] += found.errors[k]
            dropped[i] = found.dropped[k]
            no_purchase[i] = found.status[k] == "no_purchases"
        H = feature_matrix(found.lines, spec, to_ns(as_of))[0]
        placed = [histories[k][0] for k in found.ok]
        # one reduction for the usual case; its sum can be inf or NaN only if some value is not finite
        if not math.isfinite(H.sum()):
            for r in np.flatnonzero(~np.isfinite(H).all(axis=1)).tolist():
                bad = ", ".join(
                    n for n, v in zip(spec.names, H[r].tolist(), strict=True) if not math.isfinite(v)
                )
                where = f"customers[{place[placed[r]]}].transactions"
                errors[placed[r]].append(field_error(where, f"gives {bad} beyond a float's range"))
    if H is not None and len(placed) == m:  # every customer (the usual request): H is X, no scatter
        X = H
    else:
        X = np.full((m, len(spec.names)), np.nan)
        if H is not None:
            X[placed] = H
        for i, cust in enumerate(customers):
            if not errors[i] and cust.get("features") is not None:
                vector = _feature_vector(cust["features"], spec.names, place[i], errors[i])
                if vector is not None:
                    X[i] = vector
    rows = [i for i in range(m) if not errors[i] and not no_purchase[i]]
    result = loaded.model.assign(_rows(X, rows))
    # distances are at most ~1.3e154 (their squares are finite), so the sum is finite iff each is
    if not math.isfinite(result.distance.sum() + result.next_distance.sum()):
        far = ~(np.isfinite(result.distance) & np.isfinite(result.next_distance))
        message = "gives features too large to place: the distance overflows a float"
        for r in np.flatnonzero(far).tolist():
            i = rows[r]
            errors[i].append(field_error(f"customers[{place[i]}].{_input_of(customers[i])}", message))
        rows = [i for i in rows if not errors[i]]
        result = loaded.model.assign(_rows(X, rows))
    status: list[Status] = [
        "invalid" if errors[i] else "no_purchases" if no_purchase[i] else "assigned" for i in range(m)
    ]
    return Assigned(loaded, as_of, ids, status, errors, dropped, rows, _rows(X, rows), result)


def _rows(X: np.ndarray, rows: list[int]) -> np.ndarray:
    """``X[rows]``, without the copy when ``rows`` is every row (the usual request)."""
    return X if len(rows) == len(X) else X[rows]


def refuse_unless_all_assigned(assigned: Assigned, customers: list[dict[str, Any]]) -> None:
    """strict=true: every customer's problem as one refusal; nothing when all are assigned."""
    if len(assigned.rows) < len(customers):
        _refuse(assigned.status, assigned.errors, customers)


def _refuse(
    status: list[Status], errors: list[list[dict[str, str]]], customers: list[dict[str, Any]]
) -> None:
    """strict=true: every customer's problem, as one refusal."""
    found = [e for errs in errors for e in errs]
    for i, s in enumerate(status):
        if s == "no_purchases":
            where = f"customers[{i}].{_input_of(customers[i])}"
            found.append(field_error(where, "has no purchase line left (only returns or dropped lines)"))
    raise refuse(found)


def _input_of(customer: dict[str, Any]) -> str:
    return "transactions" if customer.get("transactions") is not None else "features"


def _feature_vector(
    values: dict[str, float], names: list[str], i: int, errors: list[dict[str, str]]
) -> np.ndarray | None:
    where = f"customers[{i}].features"
    unknown = sorted(set(values) - set(names))
    missing = [n for n in names if n not in values]
    for n in unknown:
        errors.append(field_error(f"{where}.{n}", f"is not a feature of this model ({', '.join(names)})"))
    for n in missing:
        errors.append(field_error(f"{where}.{n}", "is missing"))
    bad = [n for n in names if n in values and not np.isfinite(values[n])]
    for n in bad:
        errors.append(field_error(f"{where}.{n}", "must be a finite number"))
    if unknown or missing or bad:
        return None
    return np.array([values[n] for n in names], dtype=np.float64)
