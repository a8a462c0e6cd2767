"""The rulebook: every rule about a purchase line and a customer, in one place.

Training (:mod:`training.loading`, :mod:`training.frames`), bulk scoring, the CSV/Parquet
upload and the JSON route all apply these functions; nothing else states a rule. Each
rule has an outcome:

- ``kept``: the line is used as it is;
- ``dropped``: the line is left out and counted under the rule's code, per customer
  in every answer and per file in training's summary;
- ``invalid``: the line (training: the file row, counted as bad, loading fails past the
  dataset's ``max_bad_fraction``; serving: the customer, answered ``invalid`` with the
  field named, the others answered);
- ``no_purchases``: a customer status (answered and counted, never silently absent).

Rules apply in the order of :data:`RULES`; a line is counted under the first rule that
drops it. The rule table of docs/rules.md is generated from :data:`RULES`
(``python -m segments_core.rules``), and a test fails when the two differ.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Outcome = Literal["kept", "dropped", "invalid", "no_purchases"]


@dataclass(frozen=True)
class Rule:
    """One rule: what it is about, when it applies, and what happens."""

    code: str
    subject: Literal["line", "customer", "request"]
    when: str
    outcome: Outcome
    why: str


RULES: tuple[Rule, ...] = (
    Rule(
        "missing_customer_id",
        "line",
        "the customer id is empty or blank (files)",
        "dropped",
        "a line nobody bought can't describe a customer; a JSON customer must carry its id",
    ),
    Rule(
        "id_text",
        "line",
        "an id (customer, order, product) is written as a float (`17850.0`) or with surrounding spaces",
        "kept",
        "the id is read as text without the `.0` and the spaces, so `17850.0` is `17850` everywhere",
    ),
    Rule(
        "unprintable_id",
        "line",
        "a customer id holds a control, format or zero-width character (`\\u200b`, C1 controls, "
        "bidirectional overrides)",
        "invalid",
        "such ids look like others or like nothing; they are never what a shop meant",
    ),
    Rule(
        "bad_timestamp",
        "line",
        "the timestamp is not ISO 8601: extended (`2011-06-01T08:26:00Z`), "
        "basic (`20110601T082600Z`) or date-only (`2011-06-01`, `20110601`); numbers and numeric "
        "strings such as `1323475200` are never read as epoch seconds",
        "invalid",
        "an unreadable time would place the customer anywhere",
    ),
    Rule(
        "time_resolution",
        "line",
        "a timestamp has more than 6 fractional digits",
        "kept",
        "read to the microsecond (truncated), alike in files and requests",
    ),
    Rule(
        "time_zone",
        "line",
        "the timestamp has an offset (`+01:00`, `Z`) or none",
        "kept",
        "converted to UTC; without an offset it is in the model's zone: the training dataset's "
        "`timezone` (default UTC), in files and requests alike (a time a DST change skips or "
        "repeats there is invalid); `as_of` without an offset is UTC",
    ),
    Rule(
        "timestamp_out_of_range",
        "line",
        "the timestamp is before 1970-01-01, after `as_of`, or more than the tolerance in the future",
        "invalid",
        "features are measured up to `as_of`; a later line is a mistake in the data or the request "
        "(files: a line after `--as-of` fails the run, naming the line)",
    ),
    Rule(
        "bad_number",
        "line",
        "amount, quantity or unit_price is not a finite number, or only one "
        "of quantity and unit_price is given, or amount together with them",
        "invalid",
        "the line's money is unknown",
    ),
    Rule(
        "missing_money",
        "line",
        "a line has no amount (nor quantity and unit_price) and the model uses spend",
        "invalid",
        "monetary features need every line's money",
    ),
    Rule(
        "negative_price",
        "line",
        "unit_price is below zero",
        "invalid",
        "a price is never negative; a return is a negative quantity or amount",
    ),
    Rule(
        "duplicate_lines",
        "line",
        "a line repeats another of the same customer exactly (order id, "
        "timestamp, amount, category, product id)",
        "dropped",
        "exports often repeat lines; a copy is not a second purchase",
    ),
    Rule("zero_quantity", "line", "quantity is zero", "dropped", "neither a purchase nor a return"),
    Rule(
        "zero_price",
        "line",
        "unit_price is zero (free items)",
        "dropped",
        "carries no spend; free items are not purchases",
    ),
    Rule("zero_amount", "line", "amount is zero", "dropped", "neither a purchase nor a return"),
    Rule(
        "return",
        "line",
        "amount or quantity is negative (returns, cancellations such as Online Retail's `C` invoices)",
        "kept",
        "reduces net spend; not a visit",
    ),
    Rule(
        "missing_order_id",
        "line",
        "the line has no order id",
        "kept",
        "the line belongs to the visit at its timestamp",
    ),
    Rule(
        "no_purchases",
        "customer",
        "no line with a positive amount is left (only returns, or every line dropped)",
        "no_purchases",
        "features are undefined; answered with this status and counted, never silently absent",
    ),
    Rule(
        "duplicate_customer",
        "customer",
        "a request names the same customer id twice",
        "invalid",
        "the later customer is refused; merge the histories instead",
    ),
    Rule(
        "as_of",
        "request",
        "`as_of` is given as an ISO 8601 timestamp (the same forms as lines)",
        "kept",
        "the reference time; default now (serving) or midnight UTC after the last line (training)",
    ),
)
RULE_CODES = tuple(r.code for r in RULES)
#: The fields that make two lines of a customer the same line (rule ``duplicate_lines``).
DUPLICATE_KEY = ("customer_id", "order_id", "timestamp", "amount", "category", "product_id")
#: The codes under which lines are dropped, in the order they are tested.
DROP_CODES = tuple(r.code for r in RULES if r.outcome == "dropped")

# --- ids ------------------------------------------------------------------------------

_FLOAT_ID = re.compile(r"^(\d+)\.0$")


UNPRINTABLE_ID = "must be printable text (no control, format or zero-width characters)"


def check_id(value: str) -> str:
    """One customer id by the rules ``id_text`` and ``unprintable_id``: normalized, or ValueError."""
    normal = normalize_id(value)
    if normal is None:
        raise ValueError("must not be blank")
    if not normal.isprintable():
        raise ValueError(UNPRINTABLE_ID)
    return normal


#: What ``str.isprintable`` refuses, for RE2 (Arrow): other (Cc, Cf, Cs, Co, Cn), line and
#: paragraph separators, and the spaces but the ASCII one.
_UNPRINTABLE_RE2 = r"[\p{C}\p{Zl}\p{Zp}\x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}]"


def unprintable_ids(ids: pd.Series) -> pd.Series:
    """Ids (normalized, NA for none) that break the ``unprintable_id`` rule, in Arrow (no per-id Python)."""
    text = pa.array(ids.astype("string[pyarrow]"))
    hit = pc.match_substring_regex(text, _UNPRINTABLE_RE2).fill_null(False)
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=ids.index)


def normalize_id(value: str) -> str | None:
    """One id as text (rule ``id_text``); None for a blank id (rule ``missing_customer_id``)."""
    text = value.strip()
    if text.endswith(".0"):
        text = _FLOAT_ID.sub(r"\1", text)
    return text or None


def normalize_ids(values: pd.Series) -> pd.Series:
    """:func:`normalize_id` over a column; blank ids become NA."""
    text = values.astype("string").str.strip()
    floaty = text.str.endswith(".0").fillna(False)
    if floaty.any():  # the regex only where an id may be a float (5x faster on millions of ids)
        text = text.mask(floaty, text[floaty].str.replace(_FLOAT_ID.pattern, r"\1", regex=True))
    return text.replace("", pd.NA)


# --- timestamps -----------------------------------------------------------------------

_TIME = r"(?:\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?|\d{4}(?:\d{2}(?:[.,]\d{1,9})?)?)"
_BASIC_TIME = r"\d{2}(?:\d{2}(?:\d{2}(?:[.,]\d{1,9})?)?)?"
_ZONE = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)"
#: The accepted timestamp forms (rule ``bad_timestamp``): extended or basic, date-only allowed.
TIMESTAMP_PATTERN = (
    rf"^(?:\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_TIME}{_ZONE}?)?|\d{{8}}(?:T{_BASIC_TIME}{_ZONE}?)?)$"
)
_HAS_ZONE = rf"[T ].*{_ZONE}$"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
NOT_A_TIMESTAMP = (
    "is not an ISO 8601 timestamp (2011-06-01T08:26:00Z, 20110601T082600Z or 2011-06-01); "
    "numbers are never read as epoch seconds"
)
OUT_OF_UTC_RANGE = "is out of range once converted to UTC"


#: The canonical extended forms (``2011-06-01T08:26:00Z``, ``...+01:00``, up to 6 fractional
#: digits, naive allowed): a subset of :data:`TIMESTAMP_PATTERN` that ``fromisoformat`` reads as
#: the general path does once that path has rewritten its text.
_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?$")


def parse_timestamp(text: object, timezone: str = "UTC") -> dt.datetime:
    """One timestamp as an aware UTC datetime; without an offset it is in ``timezone``.

    Canonical extended forms take a fast path and each distinct (text, timezone) is read
    once per process (a cache of 16,384 entries); the outcome is that of
    :func:`parse_timestamp_general`, which a test checks on generated inputs.

    Raises
    ------
    ValueError
        With the rule's message, for anything but an accepted ISO 8601 string, or a local
        time that a daylight-saving change skips or repeats in ``timezone``.
    """
    if not isinstance(text, str):
        raise ValueError(NOT_A_TIMESTAMP)
    value = _parse_cached(text, timezone)
    if isinstance(value, str):
        raise ValueError(value)
    return value


@functools.lru_cache(maxsize=16_384)
def _parse_cached(text: str, timezone: str) -> dt.datetime | str:
    """The parsed time or the rule's message (exceptions are not cached by ``lru_cache``)."""
    try:
        if _CANONICAL.match(text):
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{NOT_A_TIMESTAMP}: not a valid date or time") from None
            return _to_utc(value, timezone)
        return parse_timestamp_general(text, timezone)
    except ValueError as exc:
        return str(exc)


def parse_timestamp_general(text: object, timezone: str = "UTC") -> dt.datetime:
    """:func:`parse_timestamp` for every accepted form, uncached (the reference the fast path meets)."""
    if not isinstance(text, str) or not _TIMESTAMP.match(text):
        raise ValueError(NOT_A_TIMESTAMP)
    fixed = text.replace(",", ".")
    fixed = re.sub(r"(\.\d{6})\d+", r"\1", fixed)  # the resolution is the microsecond (truncated)
    try:
        value = dt.datetime.fromisoformat(fixed[:-1] + "+00:00" if fixed[-1] in "Zz" else fixed)
    except ValueError:
        raise ValueError(f"{NOT_A_TIMESTAMP}: not a valid date or time") from None
    return _to_utc(value, timezone)


def _to_utc(value: dt.datetime, timezone: str) -> dt.datetime:
    """A read time in UTC; a naive one is in ``timezone`` (rule ``time_zone``)."""
    if value.tzinfo is None:
        if timezone == "UTC":
            return value.replace(tzinfo=dt.UTC)
        value = _local(value, timezone)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(OUT_OF_UTC_RANGE) from None


def _local(value: dt.datetime, timezone: str) -> dt.datetime:
    """A naive time in ``timezone``; refused where a DST change skips or repeats it (as pandas' NaT)."""
    zone = ZoneInfo(timezone)
    early, late = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        raise ValueError(f"is not one time in {timezone} (a daylight-saving change): give an offset")
    return early


def parse_timestamps(values: pd.Series, timezone: str = "UTC") -> pd.Series:
    """:func:`parse_timestamp` over a column (NaT where the rule refuses); naive in ``timezone``."""
    if pd.api.types.is_datetime64_any_dtype(values):  # typed (Parquet) times
        parsed = pd.to_datetime(values).dt.floor("us")
    else:  # each distinct text is checked and parsed once
        codes, distinct = pd.factorize(values.astype("string"))
        text = pd.Series(distinct, dtype="string")
        text = text.where(text.str.match(TIMESTAMP_PATTERN).fillna(False).to_numpy(bool))
        text = text.str.replace(",", ".", regex=False).str.replace("z", "Z", regex=False)
        once = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        naive = ~text.str.contains(_HAS_ZONE).fillna(True).to_numpy(bool)
        if timezone != "UTC" and naive.any():  # naive times are the dataset's local time
            local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
            local = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            once[naive] = local.dt.tz_convert("UTC")
        once = once.dt.floor("us")  # the rulebook's resolution, as parse_timestamp reads text
        parsed = pd.Series(once.array.take(codes, allow_fill=True), index=values.index)
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    parsed = parsed.dt.tz_convert("UTC")
    # nanosecond range: beyond it (years before 1677 or after 2262) a value is not a line's time
    lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    return parsed.where((parsed >= lo) & (parsed <= hi)).astype("datetime64[ns, UTC]")


# --- money ----------------------------------------------------------------------------

KEPT, ZERO_QUANTITY, ZERO_PRICE, ZERO_AMOUNT = 0, 1, 2, 3
BOTH_GIVEN, NO_PRICE, MISSING_MONEY, NEGATIVE_PRICE, OVERFLOW, NO_QUANTITY = 10, 11, 12, 13, 14, 15
#: Money outcome -> (rule code, field, message); fields are relative to the line.
MONEY_OUTCOMES: dict[int, tuple[str, str, str]] = {
    ZERO_QUANTITY: ("zero_quantity", "quantity", "is zero"),
    ZERO_PRICE: ("zero_price", "unit_price", "is zero"),
    ZERO_AMOUNT: ("zero_amount", "amount", "is zero"),
    BOTH_GIVEN: ("bad_number", "", "give amount or quantity and unit_price, not both"),
    NO_PRICE: ("bad_number", "unit_price", "is required with quantity"),
    NO_QUANTITY: ("bad_number", "quantity", "is required with unit_price"),
    MISSING_MONEY: (
        "missing_money",
        "amount",
        "is required (or quantity and unit_price): the model uses spend",
    ),
    NEGATIVE_PRICE: ("negative_price", "unit_price", "is negative: a return is a negative quantity"),
    OVERFLOW: ("bad_number", "", "quantity x unit_price is too large for a float"),
}


def money_outcome(
    has_amount: bool,
    has_quantity: bool,
    has_price: bool,
    negative_price: bool,
    finite_product: bool,
    zero_quantity: bool,
    zero_price: bool,
    zero_total: bool,
    has_money: bool,
) -> int:
    """The money rules for one line, in the order they apply: the first that holds decides.

    The facts are what the line gives (``amount``, ``quantity``, ``unit_price``, each given or
    not), the signs and zeros of those values, whether quantity x unit_price is finite, whether
    the line's total is zero, and whether the model uses spend. :func:`line_money` applies this
    function to every line through a table of all its answers.
    """
    if has_amount and (has_quantity or has_price):
        return BOTH_GIVEN
    if not has_amount and has_quantity and not has_price:
        return NO_PRICE
    if not has_amount and not has_quantity and has_price:
        return NO_QUANTITY
    if not has_amount and not has_quantity and not has_price and has_money:
        return MISSING_MONEY
    if has_price and negative_price:
        return NEGATIVE_PRICE
    if has_quantity and has_price and not finite_product:
        return OVERFLOW
    if has_quantity and zero_quantity:
        return ZERO_QUANTITY
    if has_price and zero_price:
        return ZERO_PRICE
    if zero_total:
        return ZERO_AMOUNT
    return KEPT


#: :func:`money_outcome` of every combination of its nine facts, indexed by their bits in its
#: argument order (``has_amount`` the highest bit, ``has_money`` the lowest).
_MONEY_TABLE = np.array(
    [money_outcome(*facts) for facts in itertools.product((False, True), repeat=9)], dtype=np.int8
)


def line_money(
    amount: np.ndarray | None, quantity: np.ndarray | None, unit_price: np.ndarray | None, has_money: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each line's money and its outcome by :func:`money_outcome` (rules ``bad_number`` ... ``zero_amount``).

    Parameters
    ----------
    amount, quantity, unit_price : float arrays or None
        NaN (or a missing column, None) where the line does not give the value.
    has_money : bool
        Whether the model uses spend (then a line without money is invalid).

    Returns
    -------
    amount : float array
        The line total (quantity x unit_price where those are given); NaN without money.
    outcome : int8 array
        :data:`KEPT`, a drop (1-9) or an invalid line (10 and above), see :data:`MONEY_OUTCOMES`.
    """
    n = len(next(a for a in (amount, quantity, unit_price, np.empty(0)) if a is not None))
    a, q, u = (None if v is None else np.asarray(v, dtype=np.float64) for v in (amount, quantity, unit_price))
    # Each line's facts as the bits of an index into the table, in money_outcome's argument
    # order. A column not given is facts that never hold: bits left at 0, no pass over it.
    # (NaN is the only value unequal to itself: ``x == x`` is "given".)
    index: Any = int(has_money)
    if a is not None:
        has_a = a == a
        index = index | (has_a << 8)
    if q is not None:
        index = index | ((q == q) << 7) | ((q == 0) << 3)
    if u is not None:
        index = index | ((u == u) << 6) | ((u < 0) << 5) | ((u == 0) << 2)
    product = None
    if q is not None and u is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            product = q * u  # NaN unless both are given
        index = index | (np.isfinite(product) << 4)
    if product is None:
        total = np.full(n, np.nan) if a is None else a.copy()
    else:
        total = product if a is None else np.where(has_a, a, product)
    index = index | ((total == 0) << 1)
    return total, _MONEY_TABLE[index]


def is_purchase(amount: np.ndarray | None, n: int) -> np.ndarray:
    """Lines that count as a purchase: a positive amount, or every kept line without money."""
    return np.ones(n, dtype=bool) if amount is None else amount > 0


def rule_table() -> str:
    """The rulebook as a Markdown table (docs/rules.md holds the generated copy)."""
    rows = ["| rule | about | when | outcome | why |", "|---|---|---|---|---|"]
    rows += [f"| `{r.code}` | {r.subject} | {r.when} | {r.outcome} | {r.why} |" for r in RULES]
    return "\n".join(rows)


if __name__ == "__main__":
    print(rule_table())
