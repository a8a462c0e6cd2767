"""app/wire.py: the msgspec schema is the models' schema, and what it cannot say is refused or caught."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, Field

from shopper_segments.app.errors import InvalidInput
from shopper_segments.app.limits import Limits, check_json_shape, key_bound, structure_of
from shopper_segments.app.parsing import (
    CUSTOMER,
    DECODE_FIRST_BYTES,
    LINE,
    REQUEST,
    _by_the_models,
    parse_assign,
)
from shopper_segments.app.schemas import Transaction
from shopper_segments.app.wire import wire_schema

LIMITS = Limits(customers=10, lines_per_customer=10, lines=20)
LINE_OK = {"order_id": "1", "timestamp": "2011-06-01T10:00:00Z", "amount": 5}


def _body(line: bytes) -> bytes:
    return b'{"customers":[{"customer_id":"a","transactions":[' + line + b"]}]}"


class _Bounded(BaseModel):
    name: str = Field(min_length=2, max_length=3)
    tags: list[Annotated[str, Field(max_length=1)]] = Field(max_length=2)


def test_length_bounds_are_translated_and_enforced() -> None:
    decode = msgspec.json.Decoder(wire_schema(_Bounded).schema).decode
    assert decode(b'{"name":"ab","tags":["x"]}') == {"name": "ab", "tags": ["x"]}
    for bad in (b'{"name":"a","tags":[]}', b'{"name":"abcd","tags":[]}', b'{"name":"ab","tags":["xy"]}'):
        with pytest.raises(msgspec.ValidationError):
            decode(bad)
    with pytest.raises(msgspec.ValidationError, match="length <= 2"):
        decode(b'{"name":"ab","tags":["x","y","z"]}')


@pytest.mark.parametrize(
    "annotation",
    [
        Annotated[int, Field(gt=0)],  # a bound msgspec is not given
        Annotated[str, Field(pattern="^a")],
        list[Annotated[str, AfterValidator(str.strip)]],  # a validator inside an item
        set[str],  # a type it does not translate
    ],
)
def test_a_constraint_it_cannot_translate_fails_generation(annotation: Any) -> None:
    model = type("M", (BaseModel,), {"__annotations__": {"x": annotation}})
    with pytest.raises(TypeError, match="no msgspec translation"):
        wire_schema(model)


def test_the_models_validators_are_run_after_decoding() -> None:
    assert list(CUSTOMER.checks) == ["customer_id"]  # the rulebook's id rules
    assert list(REQUEST.checks) == ["as_of"]  # read by the rulebook
    assert LINE.checks == {}  # timestamps stay text: history_lines reads them
    parsed = parse_assign(_body(orjson.dumps(LINE_OK))[:-1] + b',"as_of":"2011-12-10"}')
    assert parsed["as_of"].isoformat() == "2011-12-10T00:00:00+00:00"
    bad_id = b'{"customers":[{"customer_id":"a\\u0007","features":{"x":1}}]}'
    assert "customer_id" in parse_assign(bad_id)["customers"][0]["_errors"][0]["field"]


@pytest.mark.parametrize("limits", [LIMITS, None])
def test_a_repeated_key_is_refused_not_overwritten(limits: Limits | None) -> None:
    line = b'{"timestamp":"2011-06-01T10:00:00Z","amount":5,"amount":-5}'
    with pytest.raises(InvalidInput, match="repeats the key 'amount'"):
        parse_assign(_body(line), limits=limits)


@pytest.mark.parametrize("limits", [LIMITS, None])
def test_an_unknown_key_is_the_customers_error_not_dropped(limits: Limits | None) -> None:
    line = orjson.dumps({**LINE_OK, "colour": "red"})
    parsed = parse_assign(_body(line), limits=limits)
    assert parsed["customers"][0]["_errors"] == [
        {"field": "customers[0].transactions[0].colour", "message": "Extra inputs are not permitted"}
    ]


def test_keys_inside_strings_do_not_count() -> None:
    """Colons and quotes in text are not keys: a valid body is taken by the fast parse as it stands."""
    line = {**LINE_OK, "product_id": 'a":"b', "category": "x:{y}"}
    parsed = parse_assign(_body(orjson.dumps(line)), limits=LIMITS)
    assert parsed["customers"][0]["transactions"] == [{**line, "amount": 5.0}]


# -- the fast parse against the models, on bodies good and bad ---------------------------------

TEXT = st.sampled_from(
    ["a", " b ", "12.0", "", " ", "x" * 129, "\u00e9", "a\u0007", "2011-06-01T10:00:00Z", ":x", " :"]
)
VALUE = st.one_of(
    TEXT, st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, -0.0, 2.5, 1e308]),
    st.just([]), st.just({}),
)  # fmt: skip
LINE_FIELDS = [*Transaction.model_fields, "colour"]  # and one the schema does not name


#: A key written with space before its colon: a known one, an unknown one, one renamed to unknown.
SPACED = [(b'"customer_id":', b'"customer_id" :'), (b'"colour":', b'"colour" \n:'), (b'"extra":', b'"k"\t:')]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    customers = []
    for _ in range(draw(st.integers(1, 3))):
        customer: dict[str, Any] = {"customer_id": draw(TEXT | st.integers(0, 2))}
        if draw(st.booleans()):
            lines = []
            for _ in range(draw(st.integers(0, 3))):
                line = {"timestamp": "2011-06-01T10:00:00Z", "amount": 1.5}
                for name in draw(st.lists(st.sampled_from(LINE_FIELDS), max_size=3)):
                    line[name] = draw(VALUE)
                if draw(st.booleans()):
                    del line["amount"]
                lines.append(line)
            customer["transactions"] = lines
        if draw(st.booleans()):
            customer["features"] = draw(st.dictionaries(TEXT, VALUE, max_size=2))
        customers.append(customer)
    body: dict[str, Any] = {"customers": customers}
    for name in draw(st.lists(st.sampled_from(["as_of", "explain", "strict", "extra"]), max_size=2)):
        body[name] = draw(VALUE | st.just("2011-12-10"))
    raw = orjson.dumps(body)
    if draw(st.integers(0, 9)) == 0:  # a repeated key
        raw = raw.replace(b'"customer_id":', b'"customer_id":"z","customer_id":', 1)
    if draw(st.integers(0, 4)) == 0:  # space before a colon (as some writers put it), on any key
        old, new = draw(st.sampled_from(SPACED))
        raw = raw.replace(old, new, 1)
    return raw


def _outcome(parse: Any, body: bytes) -> Any:
    try:
        return parse(body)
    except InvalidInput as exc:
        return exc.errors


@settings(derandomize=True, max_examples=400, deadline=None)
@given(bodies())
def test_the_fast_parse_gives_what_the_models_give(body: bytes) -> None:
    """Values, errors and refusals: the same whether msgspec took the body or the models did."""
    fast = _outcome(lambda b: parse_assign(b, limits=LIMITS), body)
    models = _outcome(lambda b: _by_the_models(b, False, check_json_shape(b, LIMITS)), body)
    assert fast == models


@settings(derandomize=True, max_examples=300, deadline=None)
@given(bodies())
def test_the_cheap_key_bound_is_never_below_the_keys(body: bytes) -> None:
    """What lets a small body skip the shape check: -1, or at least its keys (colons outside strings)."""
    bound = key_bound(body)
    assert bound == -1 or bound >= structure_of(body).count(b":")
    if any(new in body for _, new in SPACED) or b"\\" in body:
        assert bound == -1


def test_an_unknown_key_with_space_before_its_colon_is_found() -> None:
    """The key the parser drops and the key bound misses (its colon is spaced) do not cancel out."""
    body = _body(orjson.dumps(LINE_OK)[:-1] + b',"colour" :1}')
    assert key_bound(body) == -1
    errors = parse_assign(body, limits=LIMITS)["customers"][0]["_errors"]
    assert errors == [
        {"field": "customers[0].transactions[0].colour", "message": "Extra inputs are not permitted"}
    ]


def test_a_small_body_over_the_limits_gets_the_shape_checks_refusal() -> None:
    """Decoded before its shape is checked, it is refused as if checked first: the same errors."""
    body = (
        b'{"customers":[' + b",".join([b'{"customer_id":"%d","features":{}}' % i for i in range(3)]) + b"]}"
    )
    small = Limits(customers=2, lines_per_customer=10, lines=20)
    assert len(body) <= DECODE_FIRST_BYTES
    with pytest.raises(InvalidInput) as caught:
        parse_assign(body, limits=small)
    with pytest.raises(InvalidInput) as first:
        check_json_shape(body, small)
    assert caught.value.errors == first.value.errors
    assert caught.value.errors[0]["field"] == "customers"
