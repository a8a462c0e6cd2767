"""The bad-input catalogue of POST /v1/assign: each case a 4xx problem+json naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app

LIMITS = {"max_customers": 5, "max_transactions": 5, "max_body_bytes": 4096}
LINE = {"order_id": "o1", "timestamp": "2011-01-01T10:00:00", "quantity": 2, "unit_price": 3.5}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(sample_model: tuple[Path, dict]) -> Iterator[TestClient]:
    path, _ = sample_model
    settings = Settings(model_root=path.parent.parent, model_dir=path, **LIMITS)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def names(sample_model: tuple[Path, dict]) -> list[str]:
    return list(sample_model[1]["features"]["names"])


def line(**changes: Any) -> dict[str, Any]:
    out = {**LINE, **changes}
    return {k: v for k, v in out.items() if v is not None}


def customer(cid: str = "c1", lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"customer_id": cid, "transactions": lines if lines is not None else [line()]}


def body(*customers: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**top, "customers": list(customers or [customer()])}


def raw(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": JSON}


def amount_literal(literal: str) -> dict[str, Any]:
    return raw(
        '{"customers": [{"customer_id": "c", "transactions": '
        f'[{{"timestamp": "2011-01-01T00:00:00", "amount": {literal}}}]}}]}}'
    )


T0 = "customers[0].transactions[0]"

# (case, request kwargs, status, field, words in the message)
CASES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("malformed JSON", raw('{"customers": ['), 422, "body", "malformed JSON"),
    ("not UTF-8", {"content": b'{"customers": "\xff"}', "headers": JSON}, 422, "body", "UTF-8"),
    ("JSON array body", raw("[1, 2]"), 422, "body", "valid dictionary"),
    ("empty body", {"content": b"", "headers": JSON}, 422, "body", "required"),
    (
        "text/plain",
        {"content": json.dumps(body()).encode(), "headers": {"Content-Type": "text/plain"}},
        415,
        "Content-Type",
        "expected application/json",
    ),
    (
        "no content type",
        {"content": json.dumps(body()).encode(), "headers": {}},
        415,
        "Content-Type",
        "is missing",
    ),
    (
        "form encoded",
        {"content": b"customers=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        "Content-Type",
        "application/x-www-form-urlencoded",
    ),
    ("NaN literal", amount_literal("NaN"), 422, f"{T0}.amount", "finite"),
    ("Infinity literal", amount_literal("Infinity"), 422, f"{T0}.amount", "finite"),
    ("-Infinity literal", amount_literal("-Infinity"), 422, f"{T0}.amount", "finite"),
    ("number too large for a float", amount_literal("1e999"), 422, f"{T0}.amount", "finite"),
    ("integer too large for a float", amount_literal("9" * 400), 422, f"{T0}.amount", "number"),
    ("amount as a string", amount_literal('"12.5"'), 422, f"{T0}.amount", "number"),
    ("amount as a boolean", amount_literal("true"), 422, f"{T0}.amount", "number"),
    (
        "quantity x unit_price overflows",
        {"json": body(customer(lines=[line(quantity=1e200, unit_price=1e200)]))},
        422,
        T0,
        "too large for a float",
    ),
    (
        "net spend overflows",
        {
            "json": body(
                customer(
                    lines=[
                        {"order_id": "a", "timestamp": "2011-01-01T00:00:00", "amount": 1e308},
                        {"order_id": "b", "timestamp": "2011-01-02T00:00:00", "amount": 1e308},
                    ]
                )
            )
        },
        422,
        "customers[0].transactions",
        "beyond a float's range",
    ),
    (
        "missing customer_id",
        {"json": body({"transactions": [line()]})},
        422,
        "customers[0].customer_id",
        "required",
    ),
    ("empty customer_id", {"json": body(customer(""))}, 422, "customers[0].customer_id", "at least 1"),
    ("blank customer_id", {"json": body(customer("  \t "))}, 422, "customers[0].customer_id", "blank"),
    (
        "control character in id",
        {"json": body(customer("a\x00b"))},
        422,
        "customers[0].customer_id",
        "control",
    ),
    ("id over 128 characters", {"json": body(customer("é" * 129))}, 422, "customers[0].customer_id", "128"),
    (
        "lone surrogate in id",
        raw(
            '{"customers": [{"customer_id": "\\ud800", '
            '"transactions": [{"timestamp": "2011-01-01", "amount": 1}]}]}'
        ),
        422,
        "customers[0].customer_id",
        "unicode",
    ),
    (
        "empty transaction list",
        {"json": body(customer(lines=[]))},
        422,
        "customers[0].transactions",
        "at least 1",
    ),
    ("no customers", {"json": {"customers": []}}, 422, "customers", "at least 1"),
    (
        "neither transactions nor features",
        {"json": body({"customer_id": "c"})},
        422,
        "customers[0]",
        "exactly one of transactions or features",
    ),
    (
        "unparseable timestamp",
        {"json": body(customer(lines=[line(timestamp="yesterday")]))},
        422,
        f"{T0}.timestamp",
        "ISO 8601",
    ),
    (
        "impossible date",
        {"json": body(customer(lines=[line(timestamp="2011-02-30T00:00:00")]))},
        422,
        f"{T0}.timestamp",
        "ISO 8601",
    ),
    (
        "timestamp as a number",
        {"json": body(customer(lines=[line(timestamp=1293840000)]))},
        422,
        f"{T0}.timestamp",
        "ISO 8601",
    ),
    (
        "year 10000",
        {"json": body(customer(lines=[line(timestamp="10000-01-01T00:00:00")]))},
        422,
        f"{T0}.timestamp",
        "ISO 8601",
    ),
    (
        "far future",
        {"json": body(customer(lines=[line(timestamp="2999-01-01T00:00:00Z")]))},
        422,
        f"{T0}.timestamp",
        "in the future",
    ),
    (
        "before the epoch",
        {"json": body(customer(lines=[line(timestamp="1969-12-31T23:59:59Z")]))},
        422,
        f"{T0}.timestamp",
        "before 1970-01-01",
    ),
    (
        "before the epoch once converted to UTC",
        {"json": body(customer(lines=[line(timestamp="1970-01-01T05:00:00+14:00")]))},
        422,
        f"{T0}.timestamp",
        "before 1970-01-01",
    ),
    (
        "year 1",
        {"json": body(customer(lines=[line(timestamp="0001-01-01T00:00:00")]))},
        422,
        f"{T0}.timestamp",
        "before 1970-01-01",
    ),
    (
        "offset pushes past year 9999",
        {"json": body(customer(lines=[line(timestamp="9999-12-31T23:00:00-05:00")]))},
        422,
        f"{T0}.timestamp",
        "out of range",
    ),
    ("as_of far in the future", {"json": body(as_of="2999-01-01T00:00:00Z")}, 422, "as_of", "in the future"),
    (
        "as_of before the epoch",
        {"json": body(as_of="1960-01-01T00:00:00")},
        422,
        "as_of",
        "before 1970-01-01",
    ),
    (
        "as_of out of range in UTC",
        {"json": body(as_of="0001-01-01T00:00:00+05:00")},
        422,
        "as_of",
        "out of range",
    ),
    (
        "as_of before the first purchase",
        {"json": body(as_of="2010-06-01T00:00:00Z")},
        422,
        f"{T0}.timestamp",
        "after as_of 2010-06-01",
    ),
    (
        "negative unit_price",
        {"json": body(customer(lines=[line(unit_price=-1.0)]))},
        422,
        f"{T0}.unit_price",
        "negative",
    ),
    (
        "quantity without unit_price",
        {"json": body(customer(lines=[line(unit_price=None)]))},
        422,
        f"{T0}.unit_price",
        "required",
    ),
    ("amount and quantity", {"json": body(customer(lines=[line(amount=7.0)]))}, 422, T0, "not both"),
    (
        "no money on a money model",
        {"json": body(customer(lines=[{"timestamp": "2011-01-01T00:00:00"}]))},
        422,
        f"{T0}.amount",
        "the model uses spend",
    ),
    (
        "only returns",
        {"json": body(customer(lines=[line(quantity=-2)]))},
        422,
        "customers[0].transactions",
        "only returns",
    ),
    (
        "duplicate customer ids",
        {"json": body(customer("a"), customer("b"), customer("a"))},
        422,
        "customers[2].customer_id",
        "duplicates customers[0]",
    ),
    (
        "more customers than the limit",
        {"json": body(*[customer(str(i)) for i in range(6)])},
        422,
        "customers",
        "the limit is 5",
    ),
    (
        "more transactions than the limit",
        {"json": body(customer("a"), customer("b", [line(order_id=str(i)) for i in range(6)]))},
        422,
        "customers[1].transactions",
        "the limit is 5",
    ),
    (
        "unknown field",
        {"json": body(customer(lines=[line(price=1.0)]))},
        422,
        f"{T0}.price",
        "not permitted",
    ),
    ("bad query parameter", {"json": body(), "params": {"explain": "maybe"}}, 422, "explain", "boolean"),
]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_4xx_naming_the_field(
    client: TestClient, request_kwargs: dict[str, Any], status: int, field: str, words: str
) -> None:
    """With strict=true, any customer's problem refuses the whole request (all or nothing)."""
    params = {**request_kwargs.get("params", {}), "strict": "true"}
    r = client.post("/v1/assign", **{**request_kwargs, "params": params})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status
    assert problem["instance"] == "/v1/assign"
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert field in fields, problem
    assert words.lower() in fields[field].lower(), fields[field]


#: Problems of the request itself: refused whole, strict or not.
REQUEST_LEVEL = {"more customers than the limit", "more transactions than the limit"}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_customers_problem_is_answered_in_its_slot(
    client: TestClient, request_kwargs: dict[str, Any], status: int, field: str, words: str
) -> None:
    """Without strict, a customer's own problem is its slot's status; the request is answered."""
    m = re.match(r"^customers\[(\d+)\]", field)
    case = next(c[0] for c in CASES if c[1] is request_kwargs)
    r = client.post("/v1/assign", **request_kwargs)
    if m is None or case in REQUEST_LEVEL:
        assert r.status_code == status, r.text
        return
    assert r.status_code == 200, r.text
    answer = r.json()
    slot = answer["results"][int(m.group(1))]
    if "only returns" in words:
        assert slot["status"] == "no_purchases" and slot["errors"] == [] and slot["segment_id"] is None
        assert answer["summary"]["no_purchases"] == 1
        return
    assert slot["status"] == "invalid" and slot["segment_id"] is None and slot["features"] is None
    fields = {e["field"]: e["message"] for e in slot["errors"]}
    assert field in fields, slot
    assert words.lower() in fields[field].lower(), fields[field]
    assert answer["summary"]["invalid"] >= 1
    others = [s for k, s in enumerate(answer["results"]) if k != int(m.group(1))]
    assert all(s["status"] == "assigned" for s in others if not s["errors"])


@pytest.mark.parametrize(
    ("field", "line_fields", "code"),
    [
        ("unit_price", {"unit_price": 0}, "zero_price"),
        ("quantity", {"quantity": 0}, "zero_quantity"),
        ("amount", {"amount": 0, "quantity": None, "unit_price": None}, "zero_amount"),
    ],
)
def test_zero_lines_are_dropped_and_counted_not_refused(
    client: TestClient, field: str, line_fields: dict[str, Any], code: str
) -> None:
    """The rulebook drops free and empty lines (as training does) and counts them per customer."""
    zero = {k: v for k, v in {**line(order_id="z"), **line_fields}.items() if v is not None}
    with_zero = customer("a", [line(), zero])
    only_zero = customer("b", [zero])
    r = client.post("/v1/assign", json=body(with_zero, only_zero, customer("c")))
    assert r.status_code == 200, r.text
    a, b, c = r.json()["results"]
    assert a["status"] == "assigned" and a["lines_dropped"] == {code: 1}
    assert c["features"] == a["features"]  # the zero line changed nothing
    assert b["status"] == "no_purchases" and b["lines_dropped"] == {code: 1}
    assert r.json()["summary"]["lines_dropped"] == {code: 2}
    strict = client.post("/v1/assign", json=body(with_zero, only_zero), params={"strict": "true"})
    assert strict.status_code == 422
    assert [e["field"] for e in strict.json()["errors"]] == ["customers[1].transactions"]


def features_customer(cid: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"customer_id": cid, "features": values}


def test_precomputed_features_unknown_missing_and_non_finite(client: TestClient, names: list[str]) -> None:
    good = dict.fromkeys(names, 1.0)
    unknown = features_customer("u", {**good, "loyalty": 3.0})
    missing = features_customer("m", {n: 1.0 for n in names[1:]})
    wrong_type = features_customer("t", {**good, names[0]: "1.0"})
    r = client.post(
        "/v1/assign",
        json=body(features_customer("ok", good), unknown, missing, wrong_type),
        params={"strict": "true"},
    )
    assert r.status_code == 422, r.text
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "valid number" in fields[f"customers[3].features.{names[0]}"]
    r = client.post(
        "/v1/assign", json=body(features_customer("ok", good), unknown, missing), params={"strict": "true"}
    )
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "is not a feature of this model" in fields["customers[1].features.loyalty"]
    assert fields[f"customers[2].features.{names[0]}"] == "is missing"
    assert not any(f.startswith("customers[0]") for f in fields)
    nan = client.post(
        "/v1/assign",
        content=json.dumps(body(features_customer("n", {**good, names[-1]: float("nan")}))).encode(),
        headers=JSON,
        params={"strict": "true"},
    )
    assert nan.status_code == 422
    assert nan.json()["errors"][0]["field"] == f"customers[0].features.{names[-1]}"


def test_too_many_feature_keys(client: TestClient, names: list[str]) -> None:
    values = {f"f{i}": 1.0 for i in range(65)}
    r = client.post("/v1/assign", json=body(features_customer("x", values)), params={"strict": "true"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "customers[0].features"


def test_every_error_of_a_batch_is_reported_with_its_index(client: TestClient) -> None:
    batch = body(
        customer("ok"),
        customer("bad-ts", [line(), line(order_id="o2", timestamp="nope")]),
        customer("bad-qty", [line(quantity=0)]),
    )
    r = client.post("/v1/assign", json=batch, params={"strict": "true"})
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["customers[1].transactions[1].timestamp", "customers[2].transactions"]
    answered = client.post("/v1/assign", json=batch).json()
    assert [c["status"] for c in answered["results"]] == ["assigned", "invalid", "no_purchases"]
    assert answered["results"][2]["lines_dropped"] == {"zero_quantity": 1}


def test_body_over_the_limit_is_413_from_content_length(client: TestClient) -> None:
    big = body(*[customer(f"{i:0>120}") for i in range(40)])
    r = client.post("/v1/assign", json=big)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "body", "message": "is larger than the limit of 4096 bytes"}]


def test_body_limit_also_guards_uploads_and_other_routes(client: TestClient) -> None:
    csv = b"customer_id,timestamp,amount\n" + b"c,2011-01-01T00:00:00,1.0\n" * 400
    r = client.post("/v1/assign", content=csv, headers={"Content-Type": "text/csv"})
    assert r.status_code == 413
    assert client.post("/v1/admin/reload", content=b"x" * 5000, headers=JSON).status_code == 413


def test_naive_timestamps_are_utc(client: TestClient) -> None:
    naive = customer("n", [line(timestamp="2011-01-01T10:00:00")])
    aware = customer("a", [line(timestamp="2011-01-01T15:30:00+05:30")])
    zulu = customer("z", [line(timestamp="2011-01-01T10:00:00Z")])
    r = client.post("/v1/assign", json=body(naive, aware, zulu, as_of="2011-06-01T00:00:00"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["as_of"].startswith("2011-06-01T00:00:00") and out["as_of"].endswith(("Z", "+00:00"))
    feats = [res["features"] for res in out["results"]]
    assert feats[0] == feats[1] == feats[2]
    assert feats[0]["recency_days"] == pytest.approx((151 * 24 - 10) / 24)


def test_returns_reduce_spend_and_date_only_is_midnight_utc(client: TestClient) -> None:
    lines = [line(), line(order_id="r1", timestamp="2011-01-05", quantity=-1)]
    r = client.post("/v1/assign", json=body(customer("c", lines), as_of="2011-01-10T00:00:00Z"))
    assert r.status_code == 200, r.text
    features = r.json()["results"][0]["features"]
    assert features["monetary"] == pytest.approx(2 * 3.5 - 3.5)
    assert features["frequency"] == 1.0  # a return is not a purchase order


@pytest.mark.parametrize("cid", ["客户-Ω-🙂", "x" * 128, "é" * 128, " padded id ", "17850"])
def test_unicode_and_long_ids_round_trip(client: TestClient, cid: str) -> None:
    r = client.post("/v1/assign", json=body(customer(cid), as_of="2011-06-01T00:00:00Z"))
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["customer_id"] == cid.strip()  # the rulebook's id_text rule


def test_json_with_a_charset_or_a_json_suffix_is_accepted(client: TestClient) -> None:
    payload = json.dumps(body(as_of="2011-06-01T00:00:00Z")).encode()
    for ctype in ("application/json; charset=utf-8", "application/vnd.segments+json"):
        r = client.post("/v1/assign", content=payload, headers={"Content-Type": ctype})
        assert r.status_code == 200, (ctype, r.text)


def test_csv_uploads_read_numeric_text_and_refuse_the_rest_at_their_line(client: TestClient) -> None:
    csv = {"Content-Type": "text/csv"}
    good = b"customer_id,timestamp,quantity,unit_price\nc,2011-01-01T10:00:00,2,3.5\nc,2011-01-02,-1,3.5\n"
    r = client.post("/v1/assign", content=good, headers=csv, params={"as_of": "2011-06-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["features"]["monetary"] == pytest.approx(3.5)
    bad = b"customer_id,timestamp,amount\nc,2011-01-01,NaN\nd,2011-01-01,lots\ne,2999-01-01,5\n"
    r = client.post("/v1/assign", content=bad, headers=csv, params={"strict": "true"})
    assert r.status_code == 422
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "not a number" in fields["line 2: amount"]
    assert "not a number" in fields["line 3: amount"]
