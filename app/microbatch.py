"""Small JSON requests assigned in batches: those parsed in the same turns of the event loop
are assigned together.

Assigning one customer is mostly the fixed cost of the array operations (rules, features,
nearest centroid: ~60 us, nearly the same for a few dozen customers), so requests that
arrive together, as they do on a busy service, share it. Each request keeps its own
answer: its customers, its ``as_of`` (requests with the same one, or none, are assigned
together; "now" is read once per batch), its ``strict`` and ``explain``, its duplicate ids
and its errors, named by the customer's place in that request. No timer: a batch is
assigned at the start of the next loop turn, or, when the last batch had more than one
request (a busy service), once a loop turn passes without a request joining it (at most
:data:`MAX_WAIT_TURNS`), so that the requests whose bytes arrive meanwhile join it (wrk
-c64, one worker: 11,769 -> 13,630 req/s, p99 6.0 -> 5.3 ms with one extra turn; 14,563 ->
16,053 req/s, p99 5.37 -> 4.17 ms waiting while requests join); a lone client is not made to
wait (~40 us of its ~350 us at wrk -c1).
An unexpected failure answers each request of the batch alone, so only its own fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any, NamedTuple, cast

import orjson

from shopper_segments.app.answers import Span, answers
from shopper_segments.app.assigning import (
    Assigned,
    assign_customers,
    refuse_unless_all_assigned,
    request_as_of,
)
from shopper_segments.app.errors import ServiceError
from shopper_segments.app.observe import explanations, record
from shopper_segments.core.model import Assignment

#: Lines (and customers) one batch holds at most: the loop is not held for more than a few
#: milliseconds at once however many requests arrive together; the rest go in the next turn.
MAX_BATCH_LINES = 4096
#: Loop turns a busy service's batch waits at most for more requests to join it.
MAX_WAIT_TURNS = 4


class Asked(NamedTuple):
    """A parsed JSON /v1/assign request and its flags (query and body merged)."""

    request: dict[str, Any]
    strict: bool
    explain: bool


@dataclass
class Job:
    """One parsed request waiting for its answer (bytes and model version)."""

    asked: Asked
    future: asyncio.Future[tuple[bytes, str]]
    size: int  # its customers and lines


def size_of(request: dict[str, Any]) -> int:
    """A request's customers plus its transaction lines (what a batch's work grows with)."""
    return sum(1 + len(c.get("transactions") or ()) for c in request["customers"])


class MicroBatcher:
    """Collects the parsed requests of one loop turn and answers them together."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.pending: list[Job] = []
        self.scheduled = False  # a flush is on the loop's way
        self.wait_longer = False  # whether the last batch had company (the service is busy)

    async def answer(self, request: dict[str, Any], strict: bool, explain: bool) -> tuple[bytes, str]:
        """The JSON answer to a parsed /v1/assign request and the model version that gave it.

        Raises
        ------
        ServiceError
            The request's refusal (``as_of``, ``strict``) or the model not being ready.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bytes, str]] = loop.create_future()
        if not self.scheduled:
            self.scheduled = True
            if self.wait_longer:  # busy: wait while requests keep joining
                loop.call_soon(self.gather, 0, 1)
            else:
                loop.call_soon(self.flush)
        self.pending.append(Job(Asked(request, strict, explain), future, size_of(request)))
        return await future

    def gather(self, seen: int, turns: int) -> None:
        """Flush once a loop turn adds no request to the batch, or after MAX_WAIT_TURNS turns."""
        if len(self.pending) > seen and turns < MAX_WAIT_TURNS:
            asyncio.get_running_loop().call_soon(self.gather, len(self.pending), turns + 1)
        else:
            self.flush()

    def flush(self) -> None:
        """Answer the pending requests, at most MAX_BATCH_LINES of them (called by the loop)."""
        taken, total = 0, 0
        for job in self.pending:
            if taken and total + job.size > MAX_BATCH_LINES:
                break
            taken, total = taken + 1, total + job.size
        jobs, self.pending = self.pending[:taken], self.pending[taken:]
        if self.pending:  # the rest next turn, after whatever else the loop has to do
            asyncio.get_running_loop().call_soon(self.flush)
        else:
            self.scheduled = False
        self.wait_longer = len(jobs) > 1
        outcomes: list[tuple[bytes, str] | Exception]
        try:
            outcomes = [*answer_requests(self.state, [job.asked for job in jobs])]
        except Exception:  # a bug met by one request's data: don't fail the others with it
            outcomes = []
            for job in jobs:
                try:
                    outcomes += answer_requests(self.state, [job.asked])
                except Exception as exc:
                    outcomes.append(exc)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if not job.future.done():  # else the client left and its request was cancelled
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)


def answer_requests(state: Any, asked: list[Asked]) -> list[tuple[bytes, str] | ServiceError]:
    """Each request's JSON answer and model version, or its refusal; assigned by ``as_of`` groups.

    The one way a parsed JSON /v1/assign request is answered: a micro-batch of small ones, or
    one large request alone (:func:`app.routes.assign.answer_assign`). The metrics and drift
    window are written last, once every answer is made, so a failure (the batch then answered
    request by request) cannot count a customer twice.
    """
    try:
        loaded = state.segmenter.current  # once: every answer, explanations too, is this version's
    except ServiceError as exc:
        return [exc] * len(asked)
    outcomes: list[tuple[bytes, str] | ServiceError | None] = [None] * len(asked)
    now = dt.datetime.now(dt.UTC)
    groups: dict[dt.datetime, list[int]] = {}
    latest = now
    for k, (request, _, _) in enumerate(asked):
        try:
            as_of, latest = request_as_of(request, now, state.settings.max_future_days)
        except ServiceError as exc:
            outcomes[k] = exc
            continue
        groups.setdefault(as_of, []).append(k)
    records: list[tuple[Assigned, list[int] | None]] = []
    for as_of, members in groups.items():
        customers = [c for k in members for c in asked[k].request["customers"]]
        sizes = [len(asked[k].request["customers"]) for k in members]
        starts = list(accumulate(sizes[:-1], initial=0))
        whole = assign_customers(customers, loaded, as_of, latest, starts if len(members) > 1 else None)
        answered: list[tuple[int, Span]] = []
        for k, span in zip(members, spans_of(whole, starts), strict=True):
            if asked[k].strict and span.last - span.first < span.stop - span.start:
                try:
                    refuse_unless_all_assigned(part(whole, span), asked[k].request["customers"])
                except ServiceError as exc:
                    outcomes[k] = exc
                    continue
            answered.append((k, span))
        whys = [explanations(part(whole, span)) if asked[k].explain else None for k, span in answered]
        texts = answers(whole, [span for _, span in answered], whys)
        for (k, _), text in zip(answered, texts, strict=True):
            outcomes[k] = (orjson.dumps(text, option=orjson.OPT_UTC_Z), loaded.version)
        if len(answered) == len(members):
            # once for the group: every customer, and each request's size
            records.append((whole, [span.last - span.first for _, span in answered]))
        else:
            records += [(part(whole, span), None) for _, span in answered]
    for assigned, requests in records:
        record(state, assigned, requests)
    # every request was refused or answered above: none is left None
    return cast(list[tuple[bytes, str] | ServiceError], outcomes)


def spans_of(whole: Assigned, starts: list[int]) -> list[Span]:
    """Each request's customers and assigned rows in an assignment of several (``starts``)."""
    bounds, rows = [*starts, len(whole.status)], whole.rows
    # rows are ascending, so each request's assigned rows are one run of them
    return [Span(s, e, bisect_left(rows, s), bisect_left(rows, e)) for s, e in pairwise(bounds)]


def part(whole: Assigned, span: Span) -> Assigned:
    """One request's own assignment out of an assignment of several."""
    s, e, a, b = span
    result = whole.result
    proba = None if result.probabilities is None else result.probabilities[a:b]
    return Assigned(
        whole.loaded,
        whole.as_of,
        whole.customer_ids[s:e],
        whole.status[s:e],
        whole.errors[s:e],
        whole.dropped[s:e],
        [i - s for i in whole.rows[a:b]],
        whole.X[a:b],
        Assignment(
            result.segment_index[a:b],
            result.distance[a:b],
            result.next_index[a:b],
            result.next_distance[a:b],
            proba,
        ),
    )
