"""Timestamp rules (``bad_timestamp``, ``time_resolution``, ``time_zone``): one text, or a column."""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo

import pandas as pd

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
