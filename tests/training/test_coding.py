"""Arrow columns to codes: checked against plain Python on seeded random values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shopper_segments.training.coding import (
    _never_decreases,
    nanoseconds,
    order_codes,
    short_keys,
    sorted_distinct,
)

ALPHABET = ["a", "b", "z", "0", "9", "é", "\x00", "€"]  # 1-3 bytes each in UTF-8


def random_texts(
    rng: np.random.Generator, n: int, max_chars: int, alphabet: list[str] = ALPHABET
) -> list[str]:
    """Strings of 0..max_chars characters drawn from a few letters (many repeats)."""
    return ["".join(rng.choice(alphabet, rng.integers(0, max_chars + 1))) for _ in range(n)]


def test_short_keys_compare_as_the_bytes_do() -> None:
    rng = np.random.default_rng(0)
    texts = [t for t in random_texts(rng, 3_000, 5) if len(t.encode()) <= 8 and not t.endswith("\x00")]
    texts += ["", "a", "a\x00b", "zzzzzzzz", "12345678"]
    keys = short_keys(pa.array(texts))
    assert keys is not None and keys.dtype == np.uint64
    raw = [t.encode() for t in texts]
    for i, j in zip(rng.integers(0, len(texts), 20_000), rng.integers(0, len(texts), 20_000), strict=True):
        assert (keys[i] < keys[j]) == (raw[i] < raw[j]) and (keys[i] == keys[j]) == (raw[i] == raw[j])
    assert keys[texts.index("")] == 0 and keys[texts.index("a")] == 0x61 << 56


def test_short_keys_of_a_slice_and_of_binary_values() -> None:
    values = pa.array(["skip", "b", "ab", "abc"]).slice(1)
    keys = short_keys(values)
    assert keys is not None and list(np.argsort(keys)) == [1, 2, 0]
    for kind in (pa.binary(), pa.large_binary()):
        binary = short_keys(pa.array([b"\x01", b"\x00\x01"], kind))
        assert binary is not None and binary[1] < binary[0]
    large = short_keys(pa.array(["skip", "b", "ab", "abc"], pa.large_string()).slice(1))
    assert large is not None and list(large) == list(keys)


@pytest.mark.parametrize(
    "values",
    [
        pa.array(["123456789"]),  # longer than 8 bytes
        pa.array(["a", "a\x00"]),  # would share a key
        pa.array(["a", None]),
        pa.array([1, 2]),
        pa.array(["a"], pa.string_view()),
    ],
)
def test_short_keys_refuse_what_they_cannot_key(values: pa.Array) -> None:
    assert short_keys(values) is None


@pytest.mark.parametrize("max_chars", [2, 12])  # integer keys, or Arrow's sort of longer values
def test_sorted_distinct_equals_python_sorted_set(max_chars: int) -> None:
    rng = np.random.default_rng(max_chars)
    texts = random_texts(rng, 5_000, max_chars, [c for c in ALPHABET if c != "\x00"])
    values = pa.array(texts)
    assert (short_keys(values) is None) == (max_chars > 2)
    distinct, rank = sorted_distinct(values, np.int64)
    expected = sorted(set(texts), key=str.encode)
    assert distinct.to_pylist() == expected and rank.dtype == np.int64
    assert [expected[r] for r in rank] == texts


@pytest.mark.parametrize("texts", [[], ["only"], ["same", "same"], ["longer than eight", "b", "b"]])
def test_sorted_distinct_edge_cases(texts: list[str]) -> None:
    distinct, rank = sorted_distinct(pa.array(texts, pa.string()), np.int32)
    assert distinct.to_pylist() == sorted(set(texts)) and rank.dtype == np.int32
    assert [distinct[int(r)].as_py() for r in rank] == texts


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_nanoseconds_equal_arrows_cast_in_every_unit_and_zone(unit: str) -> None:
    rng = np.random.default_rng(5)
    kind = pa.timestamp(unit, "Europe/Paris")
    span = 2**63 // {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]  # the whole range that fits
    chunks = [pa.array(rng.integers(-span, span, n), kind) for n in (1_000, 0, 7)]
    column = pa.chunked_array(chunks, kind)
    expected = column.cast(pa.timestamp("ns", "Europe/Paris")).cast(pa.int64()).to_numpy()
    got = nanoseconds(column)
    assert got.dtype == np.int64 and len(got) == 1_007
    np.testing.assert_array_equal(got, expected)


def test_nanoseconds_refuse_times_out_of_range_and_other_types() -> None:
    for value in (2**62, -(2**62)):  # seconds far beyond the years 1677-2262
        with pytest.raises(ValueError, match="out of the range"):
            nanoseconds(pa.chunked_array([pa.array([0, value], pa.timestamp("s"))]))
    with pytest.raises(ValueError, match="not a timestamp"):
        nanoseconds(pa.chunked_array([pa.array([1, 2])]))


def order_cases() -> list[tuple[pa.ChunkedArray, bool]]:
    """Id columns, and whether they never decrease (coded by runs, without hashing)."""
    rng = np.random.default_rng(11)
    ids = np.sort(rng.integers(0, 30_000, 100_000))
    text = [f"O{i:06d}" for i in ids]  # sorted by text too: runs of equal ids
    late = [*text[:90_000], "O000000", *text[90_000:]]  # one step down after the cheap check
    return [
        (pa.chunked_array([text[:40_000], text[40_000:]]), True),
        (pa.chunked_array([late]), False),
        (pa.chunked_array([text], pa.large_string()), True),
        (pa.chunked_array([[text[i] for i in rng.permutation(len(text))]]), False),
        (pa.chunked_array([ids[::-1].copy()]), False),
        (pa.chunked_array([np.repeat(ids, 2)]), True),
        (
            pa.chunked_array([np.sort(rng.integers(0, 50, 1_000)).astype(float)]),
            False,
        ),  # NaN-free, still hashed
        (pa.chunked_array([["only"]]), False),
        (pa.chunked_array([[]], pa.string()), False),
    ]


@pytest.mark.parametrize(("column", "by_runs"), order_cases())
def test_order_codes_equal_pandas_factorize(column: pa.ChunkedArray, by_runs: bool) -> None:
    assert _never_decreases(column) == by_runs or len(column) < 2
    got = order_codes(column, np.int32)
    expected, _ = pd.factorize(pd.Series(column.to_pylist(), dtype=object))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)
