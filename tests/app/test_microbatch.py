"""Requests parsed in one loop turn are assigned together, and each gets the answer it gets alone."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shopper_segments.app import microbatch
from shopper_segments.app.answers import answer
from shopper_segments.app.assigning import assign_request
from shopper_segments.app.config import Settings
from shopper_segments.app.errors import InvalidInput
from shopper_segments.app.main import create_app
from shopper_segments.app.observe import explanations
from shopper_segments.app.parsing import parse_assign
from tests.conftest import Server

AS_OF = "2011-12-10T00:00:00+00:00"
OTHER_AS_OF = "2011-09-01T00:00:00+00:00"


def line(order: str, day: int, amount: float) -> dict[str, Any]:
    return {
        "order_id": order,
        "timestamp": f"2011-{(day % 8) + 1:02d}-{(day % 27) + 1:02d}T10:00:00Z",
        "amount": amount,
    }


def customer(cid: str | None, seed: int) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "transactions": [line(f"{seed}-{k}", seed + 3 * k, 5.0 + seed + k) for k in range(3)],
    }


def requests() -> list[tuple[dict[str, Any], bool, bool]]:
    """(request, strict, explain): the cases that must stay apart inside one batch."""
    return [
        ({"as_of": AS_OF, "customers": [customer("a", 1), customer("b", 2)]}, False, False),
        # the same ids as the first request (not duplicates there), and a duplicate within itself
        ({"as_of": AS_OF, "customers": [customer("a", 3), customer("b", 4), customer("a", 5)]}, False, True),
        # an invalid line: its error names customers[1] of this request
        (
            {"as_of": AS_OF, "customers": [customer("c", 6), {"customer_id": "d", "transactions": [{}]}]},
            False,
            False,
        ),
        # strict with an invalid customer: refused alone
        (
            {"as_of": AS_OF, "customers": [customer("e", 7), {"customer_id": "f", "transactions": []}]},
            True,
            False,
        ),
        (
            {"as_of": OTHER_AS_OF, "customers": [customer("g", 8)]},
            False,
            False,
        ),  # another as_of: its own group
        (
            {"as_of": "2999-01-01T00:00:00+00:00", "customers": [customer("h", 9)]},
            False,
            False,
        ),  # in the future
        ({"as_of": AS_OF, "customers": [{"customer_id": "i", "features": {"nope": 1.0}}]}, False, False),
        ({"as_of": AS_OF, "customers": [customer("j", 10)]}, True, True),
    ]


def parsed(request: dict[str, Any]) -> dict[str, Any]:
    """As the parser hands a request on (a customer breaking the schema carries its errors)."""
    return parse_assign(orjson.dumps(request))


def alone(state: Any, request: dict[str, Any], strict: bool, explain: bool) -> Any:
    try:
        assigned = assign_request(
            parsed(request), state.segmenter.current, state.settings.max_future_days, strict
        )
    except InvalidInput as exc:
        return ("refused", exc.errors)
    whys = explanations(assigned) if explain else None
    return orjson.loads(orjson.dumps(answer(assigned, whys), option=orjson.OPT_UTC_Z))


def batched(
    settings: Settings, cases: list[tuple[dict[str, Any], bool, bool]]
) -> tuple[list[Any], list[Any], Any]:
    """Each case's answer from requests all posted to the batcher at once; its answer alone; the state."""
    app = create_app(settings)

    async def run() -> tuple[list[Any], list[Any]]:
        async with app.router.lifespan_context(app):
            batcher = app.state.batcher
            outcomes = await asyncio.gather(
                *(batcher.answer(parsed(r), strict, explain) for r, strict, explain in cases),
                return_exceptions=True,
            )
            expected = [alone(app.state, r, strict, explain) for r, strict, explain in cases]
        got = [
            ("refused", o.errors)
            if isinstance(o, InvalidInput)
            else o
            if isinstance(o, BaseException)
            else orjson.loads(o[0])
            for o in outcomes
        ]
        return got, expected

    got, expected = asyncio.run(run())
    return got, expected, app.state


def settings_for(sample_model: tuple[Path, dict]) -> Settings:
    path, _ = sample_model
    return Settings(model_root=path.parent.parent, model_dir=path)


def spy_on_groups(
    monkeypatch: pytest.MonkeyPatch, fail_for: Callable[[list[dict[str, Any]]], bool] | None = None
) -> list[int]:
    """Customers per call of assign_customers (one call per as_of group of a batch)."""
    sizes: list[int] = []
    real = microbatch.assign_customers

    def spy(customers: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(customers))
        if fail_for is not None and fail_for(customers):
            raise RuntimeError("boom")
        return real(customers, *args, **kwargs)

    monkeypatch.setattr(microbatch, "assign_customers", spy)
    return sizes


def test_each_request_of_a_batch_gets_its_answer_alone(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = spy_on_groups(monkeypatch)
    got, expected, _ = batched(settings_for(sample_model), requests())
    assert got == expected
    assert sizes == [11, 1]  # one call for the 6 requests as of AS_OF, one for OTHER_AS_OF
    first, second, invalid, strict, other, future, features, explained = got
    assert [r["status"] for r in first["results"]] == ["assigned", "assigned"]
    assert [r["status"] for r in second["results"]] == ["assigned", "assigned", "invalid"]
    assert second["results"][2]["errors"] == [
        {"field": "customers[2].customer_id", "message": "duplicates customers[0]"}
    ]
    assert all("explanation" in r for r in second["results"][:2]) and "explanation" not in first["results"][0]
    assert invalid["results"][1]["status"] == "invalid"
    assert invalid["results"][1]["errors"][0]["field"].startswith("customers[1].transactions[0]")
    assert strict[0] == "refused" and {e["field"] for e in strict[1]} == {"customers[1].transactions"}
    assert other["as_of"].startswith("2011-09-01") and other["summary"]["assigned"] == 1
    assert future == ("refused", [{"field": "as_of", "message": "is in the future"}])
    assert features["results"][0]["errors"][0]["field"] == "customers[0].features.nope"
    assert explained["results"][0]["status"] == "assigned"


def test_requests_without_as_of_share_the_batch_time(sample_model: tuple[Path, dict]) -> None:
    cases = [({"customers": [customer(f"n{k}", k)]}, False, False) for k in range(3)]
    app = create_app(settings_for(sample_model))

    async def run() -> list[Any]:
        async with app.router.lifespan_context(app):
            return await asyncio.gather(*(app.state.batcher.answer(parsed(r), s, e) for r, s, e in cases))

    before = dt.datetime.now(dt.UTC)
    answers = [orjson.loads(body) for body, _ in asyncio.run(run())]
    stamps = {a["as_of"] for a in answers}
    assert len(stamps) == 1  # "now" read once for the batch
    assert dt.datetime.fromisoformat(stamps.pop()) >= before


def test_a_failure_in_one_request_fails_only_that_request(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = spy_on_groups(monkeypatch, fail_for=lambda cs: any(c.get("customer_id") == "bad" for c in cs))
    cases = [
        ({"as_of": AS_OF, "customers": [customer("a", 1)]}, False, False),
        ({"as_of": AS_OF, "customers": [customer("bad", 2)]}, False, False),
        ({"as_of": AS_OF, "customers": [customer("c", 3)]}, False, False),
    ]
    got, expected, _ = batched(settings_for(sample_model), cases)
    assert isinstance(got[1], RuntimeError)
    assert got[0] == expected[0] and got[2] == expected[2]
    assert sizes[0] == 3 and sorted(sizes[1:]) == [1, 1, 1]  # the batch, then each request alone


def test_the_metrics_count_each_customer_of_a_batch_once(sample_model: tuple[Path, dict]) -> None:
    cases = [
        ({"as_of": AS_OF, "customers": [customer(f"m{k}", k), customer(f"n{k}", k + 1)]}, False, False)
        for k in range(4)
    ]
    got, _, state = batched(settings_for(sample_model), cases)
    assert all(a["summary"]["assigned"] == 2 for a in got)
    rows = [row.rsplit(" ", 1) for row in state.metrics.render(None, None).decode().splitlines()]
    value = {name: float(v) for name, v in rows if not name.startswith("#")}
    assert sum(v for name, v in value.items() if name.startswith("segments_assignments_total{")) == 8
    # customers per request: four requests of two, not one batch of eight
    assert value["segments_customers_per_request_count"] == 4
    assert value["segments_customers_per_request_sum"] == 8
    assert value['segments_customers_per_request_bucket{le="2.0"}'] == 4


def test_a_busy_service_waits_a_turn_longer_and_a_lone_request_does_not(
    sample_model: tuple[Path, dict],
) -> None:
    app = create_app(settings_for(sample_model))
    body = {"as_of": AS_OF, "customers": [customer("a", 1)]}

    async def run() -> list[tuple[bool, int]]:
        seen = []
        async with app.router.lifespan_context(app):
            batcher = app.state.batcher
            real = batcher.flush

            def flush() -> None:
                seen.append((batcher.wait_longer, len(batcher.pending)))
                real()

            batcher.flush = flush
            await batcher.answer(parsed(body), False, False)  # alone
            await asyncio.gather(*(batcher.answer(parsed(body), False, False) for _ in range(3)))
            await asyncio.gather(*(batcher.answer(parsed(body), False, False) for _ in range(2)))
            await batcher.answer(parsed(body), False, False)
        return seen

    # (waiting longer when this batch was gathered, its size): the flag follows the last batch
    assert asyncio.run(run()) == [(False, 1), (False, 3), (True, 2), (True, 1)]


def test_a_busy_batch_waits_while_requests_join_and_no_longer_than_max_turns(
    sample_model: tuple[Path, dict],
) -> None:
    """Busy (the last batch had company): requests joining one per loop turn join the batch,
    until a turn passes without one or MAX_WAIT_TURNS turns have passed."""
    app = create_app(settings_for(sample_model))
    body = {"as_of": AS_OF, "customers": [customer("a", 1)]}

    async def trickle(n: int) -> None:  # one request a loop turn
        waiting = []
        for _ in range(n):
            waiting.append(asyncio.ensure_future(app.state.batcher.answer(parsed(body), False, False)))
            await asyncio.sleep(0)
        await asyncio.gather(*waiting)

    async def run() -> list[int]:
        sizes = []
        async with app.router.lifespan_context(app):
            batcher = app.state.batcher
            real = batcher.flush

            def flush() -> None:
                sizes.append(len(batcher.pending))
                real()

            batcher.flush = flush
            await asyncio.gather(*(batcher.answer(parsed(body), False, False) for _ in range(2)))  # busy now
            await trickle(3)
            await trickle(2 * microbatch.MAX_WAIT_TURNS)
        return sizes

    first, *rest = asyncio.run(run())
    assert first == 2
    assert rest[0] == 3  # the three that came a turn apart, together
    assert max(rest[1:]) <= microbatch.MAX_WAIT_TURNS + 1 and sum(rest[1:]) == 2 * microbatch.MAX_WAIT_TURNS


def test_a_crowd_is_assigned_in_batches_of_bounded_size(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many requests at once: batches of at most MAX_BATCH_LINES, one per turn; a larger request alone."""
    monkeypatch.setattr(microbatch, "MAX_BATCH_LINES", 8)
    sizes = spy_on_groups(monkeypatch)
    big = {"as_of": AS_OF, "customers": [customer(f"big{k}", k) for k in range(3)]}  # 12 > 8
    cases = [({"as_of": AS_OF, "customers": [customer(f"c{k}", k)]}, False, False) for k in range(5)]
    got, expected, _ = batched(settings_for(sample_model), [*cases, (big, False, False)])
    assert got == expected
    assert sizes == [2, 2, 1, 3]  # customers per batch: two requests of 4 each, ..., the big one alone


def test_concurrent_requests_to_a_real_server_get_their_answers_alone(sample_server: Server) -> None:
    """Posted at once over HTTP (batched by the worker) and one by one: the same answers."""
    cases = requests()
    bodies = [(orjson.dumps(r), "?strict=true" if strict else "") for r, strict, _ in cases]

    async def post_all(together: bool) -> list[tuple[int, Any]]:
        async with httpx.AsyncClient(base_url=sample_server.url, timeout=30) as client:

            async def post(body: bytes, query: str) -> tuple[int, Any]:
                r = await client.post(
                    f"/v1/assign{query}", content=body, headers={"content-type": "application/json"}
                )
                return r.status_code, r.json()

            if together:
                return list(await asyncio.gather(*(post(b, q) for b, q in bodies * 3)))
            return [await post(b, q) for b, q in bodies]

    together, alone = asyncio.run(post_all(True)), asyncio.run(post_all(False))
    assert together == alone * 3
    assert sorted({status for status, _ in alone}) == [200, 422]
