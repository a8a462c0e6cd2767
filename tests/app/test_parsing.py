"""The one-pass body parser agrees with the pydantic schema it is generated from."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import msgspec
import orjson
import pytest
from pydantic import ValidationError

from shopper_segments.app.errors import InvalidInput, error_message, loc_to_field
from shopper_segments.app.histories import history_lines
from shopper_segments.app.parsing import LINE, parse_assign
from shopper_segments.app.schemas import AssignRequest, Transaction
from shopper_segments.core.features import rfm_spec
from shopper_segments.core.rules import parse_timestamp

GOOD: dict[str, Any] = {
    "as_of": "2011-12-10T00:00:00Z",
    "customers": [
        {
            "customer_id": "a",
            "transactions": [
                {"order_id": "1", "timestamp": "2011-01-01T10:00:00", "amount": 10},
                {"timestamp": "2011-02-01 10:00:00+02:00", "quantity": 2, "unit_price": 1.5, "category": "x"},
                {"order_id": "1", "timestamp": "2011-01-01T10:00:00", "amount": 10},
            ],
        },
        {"customer_id": "b", "features": {"recency_days": 1, "frequency": 2.5}},
    ],
}


def pydantic_errors(body: Any) -> list[dict[str, str]]:
    try:
        AssignRequest.model_validate(body)
    except ValidationError as exc:
        return [{"field": loc_to_field(e["loc"]), "message": error_message(dict(e))} for e in exc.errors()]
    return []


def parse_errors(body: Any) -> list[dict[str, str]]:
    try:
        parse_assign(orjson.dumps(body), strict=True)
    except InvalidInput as exc:
        return exc.errors
    return []


def _utc_lines(request: dict[str, Any]) -> dict[str, Any]:
    """Line timestamps in UTC, naive read as UTC: what app.histories does with the parsed lines."""
    out = copy.deepcopy(request)
    for cust in out["customers"]:
        for t in cust.get("transactions") or []:
            t["timestamp"] = parse_timestamp(t["timestamp"])  # what app.histories does, by the rulebook
    return out


def test_valid_body_gives_the_schema_values() -> None:
    parsed = parse_assign(orjson.dumps(GOOD))
    model = AssignRequest.model_validate(GOOD).model_dump(exclude_unset=True)
    assert _utc_lines(parsed) == model
    assert isinstance(parsed["customers"][0]["transactions"][0]["timestamp"], str)  # read later, once


@pytest.mark.parametrize(
    "stamp", ["2011-01-01", "20110101", "2011-01-01 10:00", "20110101T1000Z", "2011-01-01T10:00:00.5+05:30"]
)
def test_timestamps_are_read_as_the_model_reads_them(stamp: str) -> None:
    """The lean parse keeps timestamp text; the rulebook reads it as the model's validator does."""
    body = _with([*TX, 0, "timestamp"], stamp)
    parsed = parse_assign(orjson.dumps(body))
    assert _utc_lines(parsed) == AssignRequest.model_validate(body).model_dump(exclude_unset=True)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_timestamp_out_of_range_in_utc_is_refused_at_its_field_as_the_model_does(stamp: str) -> None:
    body = _with([*TX, 0, "timestamp"], stamp)
    expected = pydantic_errors(body)
    parsed = parse_assign(orjson.dumps(body))  # the lean parse leaves the UTC conversion to history_lines
    customers = [(i, c) for i, c in enumerate(parsed["customers"]) if "transactions" in c]
    found = history_lines(
        customers, rfm_spec(True), dt.datetime(2012, 1, 1, tzinfo=dt.UTC), dt.datetime.now(dt.UTC)
    )
    errors = found.errors[0]
    assert found.status[0] == "invalid"
    assert (
        errors
        == expected
        == [
            {
                "field": "customers[0].transactions[0].timestamp",
                "message": "is out of range once converted to UTC",
            }
        ]
    )


def test_fast_parse_is_generated_from_the_schema() -> None:
    """Every field of a line, its length bounds and whether it is required, as the model has them."""
    lean = msgspec.json.schema(LINE.schema)
    lean = lean["$defs"][lean["$ref"].rsplit("/", 1)[-1]]
    model = Transaction.model_json_schema()
    assert set(lean["properties"]) == set(model["properties"])
    assert lean["required"] == model["required"] == ["timestamp"]
    # the timestamp is text to the fast parse (read once per distinct text afterwards)
    assert lean["properties"]["timestamp"] == {"type": "string"}
    for name, prop in model["properties"].items():
        bounds = {k: v for k, v in prop.get("anyOf", [prop])[0].items() if k in ("minLength", "maxLength")}
        given = lean["properties"][name].get("anyOf", [lean["properties"][name]])[0]
        assert {k: v for k, v in given.items() if k in ("minLength", "maxLength")} == bounds, name


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
TX = ["customers", 0, "transactions"]
#: Text the schema takes and the rulebook refuses (per customer, after parsing): see
#: test_rulebook_refusals_name_the_field_as_the_model_does.
RULEBOOK = [
    (_with([*TX, 0, "timestamp"], "yesterday"), "customers[0].transactions[0].timestamp"),
    (_with([*TX, 0, "timestamp"], "1323475200"), "customers[0].transactions[0].timestamp"),
    (_with([*TX, 1, "unit_price"], -1), "customers[0].transactions[1].unit_price"),
]
BAD = [
    (_with([*TX, 0, "timestamp"], KeyError), "customers[0].transactions[0].timestamp"),
    # ISO 8601 text and JSON numbers only (docs/api.md, "API rules"): no unix seconds, numeric text, booleans.
    (_with([*TX, 1, "timestamp"], 1_300_000_000), "customers[0].transactions[1].timestamp"),
    (_with([*TX, 0, "amount"], "12.5"), "customers[0].transactions[0].amount"),
    (_with([*TX, 0, "amount"], "lots"), "customers[0].transactions[0].amount"),
    (_with([*TX, 0, "amount"], True), "customers[0].transactions[0].amount"),
    (_with(["customers", 0, "customer_id"], "  "), "customers[0].customer_id"),
    (_with(["customers", 0, "customer_id"], "a\nb"), "customers[0].customer_id"),
    (_with(["customers", 1, "features"], {f"f{i}": 1 for i in range(65)}), "customers[1].features"),
    (_with([*TX, 0, "order_id"], ""), "customers[0].transactions[0].order_id"),
    (_with([*TX, 0, "order_id"], "x" * 129), "customers[0].transactions[0].order_id"),
    (_with([*TX, 0, "order_id"], 17), "customers[0].transactions[0].order_id"),
    (_with([*TX, 0, "colour"], "red"), "customers[0].transactions[0].colour"),
    (_with([*TX, 0], "not an object"), "customers[0].transactions[0]"),
    (_with(TX, []), "customers[0].transactions"),
    (_with(["customers", 0, "customer_id"], ""), "customers[0].customer_id"),
    (_with(["customers", 0, "customer_id"], KeyError), "customers[0].customer_id"),
    (_with(["customers", 1, "transactions"], [{"timestamp": "2011-01-01", "amount": 1}]), "customers[1]"),
    (_with(["customers", 1, "features"], {"recency_days": "x"}), "customers[1].features.recency_days"),
    (_with(["customers", 1, "features"], None), "customers[1]"),
    (_with(["customers"], []), "customers"),
    (_with(["customers"], KeyError), "customers"),
    (_with(["as_of"], "soon"), "as_of"),
    (_with(["extra"], 1), "extra"),
    ([1, 2], "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_errors_are_pydantics_at_the_same_fields(body: Any, field: str | None) -> None:
    expected = pydantic_errors(body)
    got = parse_errors(body)
    assert got == expected
    if field is None:
        assert got == []
    else:
        assert field in [e["field"] for e in got]


@pytest.mark.parametrize(("body", "field"), RULEBOOK)
def test_rulebook_refusals_name_the_field(body: Any, field: str) -> None:
    """Text the lean schema passes is refused by the rulebook in that customer's slot."""
    parsed = parse_assign(orjson.dumps(body))
    customers = [(i, c) for i, c in enumerate(parsed["customers"]) if "transactions" in c]
    found = history_lines(customers, rfm_spec(True), dt.datetime(2012, 1, 1, tzinfo=dt.UTC), FAR)
    assert found.status[0] == "invalid" and [e["field"] for e in found.errors[0]] == [field]


def test_every_error_of_a_body_is_reported() -> None:
    body = _with([*TX, 0, "amount"], "lots")
    body["customers"][0]["transactions"][1]["quantity"] = True
    body["customers"][1]["customer_id"] = ""
    fields = [e["field"] for e in parse_errors(body)]
    assert fields == [
        "customers[0].transactions[0].amount",
        "customers[0].transactions[1].quantity",
        "customers[1].customer_id",
    ]
    assert fields == [e["field"] for e in pydantic_errors(body)]
    # without strict each customer keeps its own errors
    parsed = parse_assign(orjson.dumps(body))
    assert [len(c["_errors"]) for c in parsed["customers"]] == [2, 1]


@pytest.mark.parametrize("raw", [b"", b"   ", b'{"customers": [', b"{'a': 1}", b"\xff"])
def test_malformed_or_empty_body_names_the_body(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_assign(raw)
    assert info.value.errors[0]["field"] == "body"
    assert info.value.status == 422
