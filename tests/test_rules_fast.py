"""The rulebook's fast paths give the general path's outcome (rules ``bad_timestamp`` ... ``zero_amount``)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopper_segments.core.rules import (
    line_money,
    money_outcome,
    parse_timestamp,
    parse_timestamp_general,
)

SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)
ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


def outcome(fn, text: object, zone: str) -> tuple[str, object]:
    try:
        return "ok", fn(text, zone)
    except ValueError as exc:
        return "error", str(exc)


def mostly(usual: object, rare: list[object]) -> st.SearchStrategy[object]:
    """One of ``usual`` nine times in ten, else one of ``rare``."""
    usual = list(usual)  # type: ignore[call-overload]
    return st.sampled_from(usual * (9 * len(rare)) + rare * len(usual))


@st.composite
def stamps(draw: st.DrawFn) -> str:
    """Texts in all 11 accepted forms, near-misses, DST edges and out-of-range years."""
    year = draw(st.sampled_from([1, 1969, 1970, 2011, 2021, 9999]) | st.integers(1900, 2100))
    # mostly valid fields (so that most texts are read), some out of range
    when = (year, draw(mostly(range(1, 13), [0, 13])), draw(mostly(range(1, 29), [0, 29, 30, 31, 32])))
    # 00:30-02:59: the hours a DST change skips or repeats in ZONES
    h = draw(mostly([0, 1, 1, 2, 2, 3, *range(24)], [24, 25]))
    mi, s = draw(mostly([0, 30, *range(60)], [60])), draw(mostly(range(60), [60]))
    frac = draw(mostly(["", "", ".5", ".123456", ",25", ".1234567"], [".", ".1234567891x"]))
    zone = draw(
        mostly(["", "", "Z", "Z", "z", "+01:00", "-05:30", "+0100", "+01", "+14:00"], ["-23:59", "+1:00"])
    )
    y, mo, d = when
    sep = draw(mostly(["T", "T", " "], ["t", "_"]))
    forms = [
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}{zone}",
        f"{y:04d}-{mo:02d}-{d:02d}",
        f"{y:04d}{mo:02d}{d:02d}T{h:02d}{mi:02d}{s:02d}{frac}{zone}",
        f"{y:04d}{mo:02d}{d:02d}T{h:02d}{zone}",
        f"{y:04d}{mo:02d}{d:02d}",
        f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}{zone}",
    ]
    text = draw(st.sampled_from(forms[:1] * 6 + forms[1:]))  # the canonical form most
    return str(draw(mostly([text], [text + " ", "1323475200", text.replace("-", "/"), "\u0661" + text[1:]])))


@SETTINGS
@given(stamps(), st.sampled_from(ZONES))
def test_parse_timestamp_fast_path_agrees_with_general(text: str, zone: str) -> None:
    first = outcome(parse_timestamp, text, zone)
    assert first == outcome(parse_timestamp_general, text, zone)
    assert outcome(parse_timestamp, text, zone) == first  # the cached answer is the same


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2011-06-01T08:26:00Z", "UTC", dt.datetime(2011, 6, 1, 8, 26, tzinfo=dt.UTC)),
        ("2011-06-01T09:26:00+01:00", "UTC", dt.datetime(2011, 6, 1, 8, 26, tzinfo=dt.UTC)),
        ("2011-06-01 09:26:00.5", "Europe/London", dt.datetime(2011, 6, 1, 8, 26, 0, 500000, tzinfo=dt.UTC)),
        ("2011-06-01T08:26:00,1234567z", "UTC", dt.datetime(2011, 6, 1, 8, 26, 0, 123456, tzinfo=dt.UTC)),
    ],
)
def test_parse_timestamp_reads_known_instants(text: str, zone: str, expected: dt.datetime) -> None:
    assert parse_timestamp(text, zone) == expected


@pytest.mark.parametrize(
    ("text", "zone", "message"),
    [
        ("2011-03-27T01:30:00", "Europe/London", "daylight-saving"),  # skipped
        ("2011-10-30 01:30:00", "Europe/London", "daylight-saving"),  # repeated
        ("2011-02-30T00:00:00Z", "UTC", "not a valid date"),
        ("0001-01-01T00:00:00+01:00", "UTC", "out of range"),
        ("1323475200", "UTC", "epoch seconds"),
    ],
)
def test_parse_timestamp_refusals_name_the_rule(text: str, zone: str, message: str) -> None:
    for _ in range(2):  # refused again from the cache, with the same message
        with pytest.raises(ValueError, match=message):
            parse_timestamp(text, zone)


def test_parse_timestamp_refuses_non_text() -> None:
    for value in (1323475200, None, 1.5, ["2011-06-01"]):
        with pytest.raises(ValueError, match="epoch seconds"):
            parse_timestamp(value)


MONEY = st.sampled_from(
    [np.nan, np.nan, 0.0, -0.0, 1.0, -1.0, 2.55, -3.0, 1e-200, 1e200, 1e308, -1e308, np.inf, -np.inf, 5e-324]
) | st.floats(allow_nan=True, allow_infinity=True)


def line_by_line(columns: list[np.ndarray | None], has_money: bool, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference: each line's facts read in plain Python and :func:`money_outcome` asked per line."""
    a_, q_, u_ = ([math.nan] * n if c is None else c.tolist() for c in columns)
    totals, outs = [], []
    for a, q, u in zip(a_, q_, u_, strict=True):
        has_a, has_q, has_u = not math.isnan(a), not math.isnan(q), not math.isnan(u)
        product = q * u
        total = a if has_a else product if has_q and has_u else math.nan
        facts = (has_a, has_q, has_u, u < 0, math.isfinite(product), q == 0, u == 0, total == 0)
        totals.append(total)
        outs.append(money_outcome(*facts, has_money))
    return np.array(totals, dtype=np.float64), np.array(outs, dtype=np.int8)


@SETTINGS
@given(
    st.integers(0, 40).flatmap(
        lambda n: st.tuples(*(st.none() | st.lists(MONEY, min_size=n, max_size=n) for _ in range(3)))
    ),
    st.booleans(),
)
def test_line_money_applies_the_rules_to_every_line(columns: tuple, has_money: bool) -> None:
    given_cols = [None if c is None else np.array(c, dtype=np.float64) for c in columns]
    n = len(next((c for c in given_cols if c is not None), np.empty(0)))
    small, arrays = line_by_line(given_cols, has_money, n), line_money(*given_cols, has_money)
    np.testing.assert_array_equal(small[0], arrays[0])  # NaN where NaN, same totals
    np.testing.assert_array_equal(small[1], arrays[1])
    assert small[0].dtype == arrays[0].dtype and small[1].dtype == arrays[1].dtype == np.int8


def test_line_money_is_the_same_at_every_size() -> None:
    rng = np.random.default_rng(7)
    for n in (0, 1, 128, 129, 500):
        q = rng.choice([np.nan, 0.0, -2.0, 3.0], n)
        u = rng.choice([np.nan, 0.0, -1.0, 1.25], n)
        total, out = line_money(None, q, u, True)
        ref_total, ref_out = line_by_line([None, q, u], True, n)
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(total, ref_total)
        assert len(out) == n
