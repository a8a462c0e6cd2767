"""app/answers.py: each result in its customer's place, in the response model's field order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from shopper_segments.app.responses import AssignResponse, CustomerResult
from tests.conftest import Server

AS_OF = "2011-12-10T00:00:00Z"


def history(seed: int) -> list[dict[str, Any]]:
    return [
        {
            "order_id": f"{seed}-{k}",
            "timestamp": f"2011-0{k + 1}-1{seed % 9}T10:00:00Z",
            "amount": 7.5 * (k + seed),
        }
        for k in range(1, 4)
    ]


def test_placed_and_unplaced_results_in_request_order_with_every_field_in_place(
    gmm_server: tuple[Server, Path, dict],
) -> None:
    """Assigned, invalid, without purchases, assigned: probabilities and explanations only on the
    assigned, each on its own customer, and the keys in the order of :class:`CustomerResult`."""
    server, _, meta = gmm_server
    body = {
        "as_of": AS_OF,
        "customers": [
            {"customer_id": "first", "transactions": history(1)},
            {"customer_id": "bad", "transactions": [{"timestamp": "yesterday", "amount": 3.0}]},
            {
                "customer_id": "returns",
                "transactions": [{"timestamp": "2011-05-01T10:00:00Z", "amount": -4.0}],
            },
            {"customer_id": "last", "transactions": history(5)},
        ],
    }
    r = httpx.post(f"{server.url}/v1/assign?explain=true", json=body, timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    AssignResponse.model_validate(answer)
    results = answer["results"]
    assert [(x["customer_id"], x["status"]) for x in results] == [
        ("first", "assigned"),
        ("bad", "invalid"),
        ("returns", "no_purchases"),
        ("last", "assigned"),
    ]
    order = list(CustomerResult.model_fields)
    for x in results:
        assert list(x) == [name for name in order if name in x]
    names = {s["id"]: s["name"] for s in meta["segments"]}
    for x in (results[0], results[3]):
        assert names[x["segment_id"]] == x["segment_name"] and x["distance"] >= 0
        assert len(x["probabilities"]) == len(names)
        assert abs(x["explanation"]["squared_distance"] - x["distance"] ** 2) <= 1e-9 * (
            1 + x["distance"] ** 2
        )
        assert set(x["features"]) == set(meta["features"]["names"]) and 1 <= x["rfm_r"] <= 5
    assert results[0]["features"] != results[3]["features"]
    for x in (results[1], results[2]):
        unplaced = (
            "segment_id",
            "segment_name",
            "distance",
            "next_segment",
            "features",
            "rfm_r",
            "rfm_segment",
        )
        assert all(x[name] is None for name in unplaced)
        assert "probabilities" not in x and "explanation" not in x
    assert results[1]["errors"][0]["field"] == "customers[1].transactions[0].timestamp"
    assert answer["summary"] == {"assigned": 2, "no_purchases": 1, "invalid": 1, "lines_dropped": {}}
