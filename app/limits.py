"""Request limits, checked on the raw body before any per-item object is built.

A refused request must cost less than an accepted one: the checks here read bytes
(``bytes.count``, ``bytes.translate`` and, for bodies with escapes, one regular expression,
all in C) and never parse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopper_segments.app.errors import InvalidInput, field_error

#: JSON strings (with escapes): removed before counting structure, since text may hold braces.
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Errors listed in one answer; the rest are counted.
MAX_ERRORS = 50
#: Depth of a valid request: body > customers > customer > transactions > line (or features).
MAX_DEPTH = 5
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"{[")
_BRACE = ord("{")
#: Levels of a customer (body > customers > customer) and of a line (> transactions > line).
CUSTOMER_LEVEL, LINE_LEVEL = 3, 5
#: brackets up to this many: a Python loop finds the depth faster than numpy's setup
_SHORT = 128
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}:')
_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')
#: structure bytes (and quotes) from which :func:`structure_of` reads strings by numpy
PARITY_BYTES = 16 * 1024


@dataclass(frozen=True)
class Limits:
    """How much one request may hold."""

    customers: int
    lines_per_customer: int
    lines: int

    @property
    def objects(self) -> int:
        """JSON objects a request within the limits can hold (a customer, its features, its lines)."""
        return 1 + 2 * self.customers + self.lines


def refuse(errors: list[dict[str, str]]) -> InvalidInput:
    """One refusal with at most :data:`MAX_ERRORS` errors listed and the rest counted."""
    shown = errors[:MAX_ERRORS]
    if len(errors) > MAX_ERRORS:
        shown = [*shown, field_error("errors", f"{len(errors) - MAX_ERRORS} more errors not listed")]
    return InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors[:3]), shown)


def count_errors(customers: int, lines: int, limits: Limits) -> list[dict[str, str]]:
    """The request-wide limits: more customers, or more lines in all, than a request may hold.

    The one statement of that rule, for counts read on the bytes (:func:`check_json_shape`)
    and on a parsed request (:func:`check_counts`).
    """
    errors = []
    if customers > limits.customers:
        errors.append(
            field_error("customers", f"has {customers:,} customers; the limit is {limits.customers}")
        )
    if lines > limits.lines:
        errors.append(
            field_error("customers", f"hold {lines:,} lines; the limit is {limits.lines} per request")
        )
    return errors


def check_counts(request: dict[str, Any], limits: Limits) -> None:
    """Refuse a parsed request over the limits: request-wide, and any customer's own lines."""
    customers = request["customers"]
    own: list[dict[str, str]] = []
    total = 0
    for i, customer in enumerate(customers):
        lines = customer.get("transactions")
        if lines is not None:
            total += len(lines)
            if len(lines) > limits.lines_per_customer:
                message = f"has {len(lines)} lines; the limit is {limits.lines_per_customer}"
                own.append(field_error(f"customers[{i}].transactions", message))
    errors = count_errors(len(customers), total, limits) + own
    if errors:
        raise refuse(errors)


def check_text(body: bytes) -> None:
    """UTF-8 only: a byte order mark (UTF-8, -16 or -32) or NUL bytes are refused."""
    if body.startswith(_BOMS) or b"\x00" in body:
        raise refuse([field_error("body", "must be UTF-8 text without a byte order mark or NUL bytes")])
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse([field_error("body", f"is not UTF-8 (byte {exc.start})")]) from None


def check_json_shape(body: bytes, limits: Limits) -> int:
    """Refuse a JSON body holding more customers, lines or objects, or deeper nesting, than a
    valid request can.

    Strings are emptied first (text may hold braces); what is left is counted in C, and its
    depth and the objects at a customer's and a line's level computed with numpy: about a
    millisecond per MB, nothing per item.

    Returns
    -------
    int
        The number of keys the body's objects hold (to find repeated keys once parsed).
    """
    check_text(body)
    structure = structure_of(body)
    brackets = structure.translate(None, _NOT_BRACKETS)
    deepest, customers, lines = nesting(brackets)
    over = count_errors(customers, lines, limits)
    if over:
        raise refuse(over)
    objects, arrays = brackets.count(b"{"), brackets.count(b"[")
    if objects > limits.objects or arrays > 2 + limits.customers:
        raise refuse(
            [
                field_error(
                    "body",
                    f"holds {objects:,} objects and {arrays:,} arrays: more than a request within the "
                    f"limits ({limits.customers:,} customers, {limits.lines:,} lines) can hold",
                )
            ]
        )
    if deepest > MAX_DEPTH:
        raise refuse([field_error("body", f"is nested deeper than a request ({MAX_DEPTH} levels)")])
    return structure.count(b":")


def nesting(brackets: bytes) -> tuple[int, int, int]:
    """The deepest nesting of a run of brackets and braces, and how many objects open at a
    customer's level and at a line's (:data:`CUSTOMER_LEVEL`, :data:`LINE_LEVEL`).

    Counted on the structure, not on key names, so text cannot inflate them. A loop when
    short, numpy when long.
    """
    if len(brackets) <= _SHORT:
        level = deepest = customers = lines = 0
        for byte in brackets:
            if byte in _OPENERS:
                level += 1
                if level > deepest:
                    deepest = level
                if byte == _BRACE:
                    if level == CUSTOMER_LEVEL:
                        customers += 1
                    elif level == LINE_LEVEL:
                        lines += 1
            else:
                level -= 1
        return deepest, customers, lines
    codes = np.frombuffer(brackets, dtype=np.uint8)
    braces = codes == _BRACE
    steps = (braces | (codes == ord("["))).view(np.int8) * 2 - 1  # +1 opening, -1 closing
    levels = np.cumsum(steps, dtype=np.int32)
    opened = levels[braces]  # an object's level is the level after its opening brace
    return (
        int(levels.max(initial=0)),
        int(np.count_nonzero(opened == CUSTOMER_LEVEL)),
        int(np.count_nonzero(opened == LINE_LEVEL)),
    )


def structure_of(body: bytes, by_parity_from: int = PARITY_BYTES) -> bytes:
    """The body's brackets, braces and colons outside JSON strings, in order.

    Without a backslash no string holds an escaped quote, so every other quote closes a
    string: keep only quotes and structure bytes, then drop what lies between a quote and
    the next. Up to ``by_parity_from`` bytes so kept, by splitting on the quotes (4x faster
    than the regular expression of :func:`structure_by_regex`); from there on, by the parity
    of the quotes before each byte, in numpy (a 1 MB request: 1.7 -> 0.8 ms, no object per
    string). An unclosed string (an odd count of quotes) goes to the regular expression too.
    """
    if b"\\" in body:
        return structure_by_regex(body)
    kept = body.translate(None, _NOT_STRUCTURE)
    if len(kept) >= by_parity_from:
        codes = np.frombuffer(kept, dtype=np.uint8)
        quote = codes == ord('"')
        inside = np.bitwise_xor.accumulate(quote)  # True from an opening quote to its closing one
        if len(inside) and inside[-1]:
            return structure_by_regex(body)
        return codes[~(inside | quote)].tobytes()
    parts = kept.split(b'"')
    if len(parts) % 2 == 0:  # an odd count of quotes
        return structure_by_regex(body)
    return b"".join(parts[::2])


def structure_by_regex(body: bytes) -> bytes:
    """:func:`structure_of` for any body: strings (with escapes) removed by a regular expression."""
    return _STRINGS.sub(b"", body).translate(None, _NOT_STRUCTURE)


def key_bound(body: bytes) -> int:
    """At least as many as the keys of a JSON body, when that is cheap to tell; else -1.

    Without a backslash, a quote is always a string's start or end, so each key ends in
    ``":`` unless space comes before its colon (then -1). Other ``":`` are strings that begin
    with a colon: the count can only be higher. A parsed body whose keys number exactly this
    had no key the parser dropped or merged.
    """
    if b"\\" in body or _SPACED_COLON.search(body):
        return -1
    return body.count(b'":')


def check_unique_keys(body: bytes) -> None:
    """Refuse a JSON object that repeats a key (parsers would silently keep the last)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise refuse([field_error("body", f"an object repeats the key {key!r}")])
            seen.add(key)
        return dict(pairs)

    json.loads(body, object_pairs_hook=unique)


def count_keys(request: dict[str, Any]) -> int:
    """Keys of a parsed request (top level, customers, features, lines)."""
    n = len(request)
    for cust in request.get("customers", ()):
        if isinstance(cust, dict):
            n += len(cust) + len(cust.get("features") or ()) + sum(map(len, cust.get("transactions") or ()))
    return n
