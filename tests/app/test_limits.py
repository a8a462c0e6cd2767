"""app/limits.py: the quote-splitting fast path finds the same structure as the regular expression."""

from __future__ import annotations

import json
from itertools import accumulate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopper_segments.app import limits
from shopper_segments.app.errors import InvalidInput
from shopper_segments.app.limits import (
    _NOT_STRUCTURE,
    PARITY_BYTES,
    Limits,
    check_json_shape,
    structure_by_regex,
    structure_of,
)

SEEDED = settings(
    derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
#: text full of what the structure count must not see inside strings
TEXT = st.text(alphabet=st.sampled_from('ab "{}[]:,\\\n\u00e9\u202e'), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)
#: bytes no parser accepts: unclosed strings, stray escapes, brackets in any order
HOSTILE = st.binary(max_size=200).map(
    lambda b: b.translate(bytes(b'"{}[]:,\\ a'[x % 10] for x in range(256)))
)
LIMITS = Limits(customers=3, lines_per_customer=5, lines=8)


def outcome(body: bytes) -> int | str:
    try:
        return check_json_shape(body, LIMITS)
    except InvalidInput as exc:
        return str(exc)


@SEEDED
@given(VALUES, st.booleans())
def test_fast_path_agrees_on_json(value: object, ascii_only: bool) -> None:
    body = json.dumps({"customers": value}, ensure_ascii=ascii_only).encode()
    assert structure_of(body) == structure_by_regex(body) == structure_of(body, by_parity_from=0)


@SEEDED
@given(HOSTILE)
def test_fast_path_agrees_on_hostile_bytes(body: bytes) -> None:
    assert structure_of(body) == structure_by_regex(body) == structure_of(body, by_parity_from=0)


def test_a_large_request_is_read_by_parity_as_by_the_regex() -> None:
    """Over PARITY_BYTES of structure: braces, brackets and colons inside strings are not structure."""
    lines = [
        {"order_id": f"{i}}}{{", "timestamp": "2011-06-01T10:00:00Z", "amount": 5.0, "category": "a{[:]}"}
        for i in range(2_000)
    ]
    body = json.dumps({"customers": [{"customer_id": "c", "transactions": lines}]}).encode()
    assert b"\\" not in body and len(body.translate(None, _NOT_STRUCTURE)) > PARITY_BYTES
    assert structure_of(body) == structure_by_regex(body)
    assert structure_of(body).count(b"{") == 2 + 2_000  # the body, the customer, each line


@pytest.mark.parametrize(
    "body",
    [
        b'{"customers":' + b"[" * 50 + b"]" * 50 + b"}",
        b'{"customers":[' + b",".join([b"{}"] * 40) + b"]}",
        b'{"customers":[{"customer_id":"a{[[[[[[","features":{}}]}',  # brackets inside a string
        b'{"customers":[{"customer_id":"a\\"[[[[[[","features":{}}]}',  # ... after an escaped quote
        b'{"customers":[{"customer_id":"unclosed [[[[[[[}]}',  # an odd count of quotes
        b'{"customers":[{"customer_id":"a","features":{"x":1}}]}',
    ],
)
def test_refusals_and_key_counts_match_the_regex(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = outcome(body)
    monkeypatch.setattr("shopper_segments.app.limits.structure_of", structure_by_regex)
    assert fast == outcome(body)


def test_deep_nesting_in_structure_is_refused_but_not_in_strings() -> None:
    deep = b'{"customers":[[[[[]]]]]}'
    with pytest.raises(InvalidInput, match="nested deeper"):
        check_json_shape(deep, Limits(customers=10, lines_per_customer=5, lines=8))
    quoted = b'{"customers":[{"customer_id":"[[[[[[","features":{}}]}'
    assert check_json_shape(quoted, LIMITS) == 3  # customers, customer_id, features


@SEEDED
@given(st.binary(max_size=300).map(lambda b: b.translate(bytes(b"{[]}"[x % 4] for x in range(256)))))
def test_nesting_loop_and_numpy_agree(brackets: bytes) -> None:
    levels = list(accumulate(1 if b in b"{[" else -1 for b in brackets))
    opened = [level for level, b in zip(levels, brackets, strict=True) if b == ord("{")]
    expected = (max(0, *levels) if brackets else 0, opened.count(3), opened.count(5))
    assert limits.nesting(brackets) == expected
    short = limits._SHORT
    try:
        limits._SHORT = -1  # always numpy
        assert limits.nesting(brackets) == expected
    finally:
        limits._SHORT = short


def test_customers_and_lines_are_counted_on_the_structure_not_in_text() -> None:
    """Values that read like keys do not count; objects at a customer's and a line's level do."""

    def body(customers: int, lines: int) -> bytes:
        line = {"timestamp": "2011-06-01T10:00:00Z", "amount": 1.0, "category": "customer_id"}
        shaped = [
            {"customer_id": f"c{c}", "transactions": [dict(line, product_id="timestamp")] * lines}
            for c in range(customers)
        ]
        return json.dumps({"customers": shaped, "as_of": "timestamp"}).encode()

    # 2 customers x 4 lines: "customer_id" and "timestamp" appear 10 and 9 times each as text
    assert check_json_shape(body(2, 4), LIMITS) == 2 + 2 * 2 + 8 * 4
    with pytest.raises(InvalidInput, match="has 4 customers; the limit is 3"):
        check_json_shape(body(4, 1), LIMITS)
    with pytest.raises(InvalidInput, match="hold 9 lines; the limit is 8 per request"):
        check_json_shape(body(3, 3), LIMITS)
