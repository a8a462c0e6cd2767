"""Parse a POST /v1/assign body from raw bytes in one pass, by the schema of app.schemas.

The pydantic models in :mod:`app.schemas` stay the one schema: they feed the OpenAPI
document, and the checks here are generated from their fields (names, required,
nullable, length and bound constraints). The fast path accepts only values that
pydantic would accept unchanged; anything else (a wrong type, an unknown key, a
broken constraint) is validated by the pydantic model of that object, so errors
carry pydantic's own messages at the same fields
(``customers[3].transactions[2].timestamp``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import orjson
from pydantic import AfterValidator, BaseModel, TypeAdapter, ValidationError

from app.errors import InvalidInput, error_message, field_error, loc_to_field
from app.schemas import ID_MAX, MAX_FEATURE_KEYS, AssignRequest, Customer, Timestamp, Transaction

# The schema's own timestamp type: ISO text, converted to UTC, refused out of range.
_DATETIME: TypeAdapter[dt.datetime] = TypeAdapter(Timestamp)


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # "str", "float", "bool", "datetime", "list", "dict"
    required: bool
    nullable: bool
    min_length: int = 0
    max_length: int | None = None
    ge: float | None = None
    checks: tuple[Callable[..., Any], ...] = ()


_KINDS = {str: "str", float: "float", bool: "bool", dt.datetime: "datetime", list: "list", dict: "dict"}


def _fields_of(model: type[BaseModel]) -> tuple[_Field, ...]:
    """The checks of ``model``'s fields, read from its pydantic field definitions."""
    out = []
    for name, info in model.model_fields.items():
        union = get_origin(info.annotation) in (Union, types.UnionType)
        members = get_args(info.annotation) if union else (info.annotation,)
        nullable = type(None) in members
        base = next(t for t in members if t is not type(None))
        extra: tuple[Any, ...] = ()
        if get_origin(base) is Annotated:
            base, *rest = get_args(base)
            extra = tuple(rest)
        origin = get_origin(base) or base
        kinds = {
            str: "str",
            float: "float",
            bool: "bool",
            dt.datetime: "datetime",
            list: "list",
            dict: "dict",
        }
        kind = kinds[origin]
        limits: dict[str, Any] = {}
        for meta in (*info.metadata, *extra):
            for attr in ("min_length", "max_length", "ge"):
                if getattr(meta, attr, None) is not None:
                    limits[attr] = getattr(meta, attr)
        # Validators of text fields (e.g. customer_id's); a datetime's run inside _DATETIME.
        checks = tuple(m.func for m in (*info.metadata, *extra) if isinstance(m, AfterValidator))
        out.append(_Field(name, kind, info.is_required(), nullable, checks=checks, **limits))
    return tuple(out)


TX_FIELDS = _fields_of(Transaction)
CUSTOMER_FIELDS = _fields_of(Customer)
REQUEST_FIELDS = _fields_of(AssignRequest)
_TX_NAMES = frozenset(f.name for f in TX_FIELDS)
_CUSTOMER_NAMES = frozenset(f.name for f in CUSTOMER_FIELDS)
_REQUEST_NAMES = frozenset(f.name for f in REQUEST_FIELDS)


class _Invalid(Exception):
    """The fast path does not accept the value: pydantic decides."""


def _scalar(f: _Field, value: Any, times: dict[str, dt.datetime]) -> Any:
    if value is None:
        if f.nullable:
            return None
        raise _Invalid
    kind = f.kind
    if kind == "str":
        if type(value) is not str or len(value) < f.min_length:
            raise _Invalid
        if f.max_length is not None and len(value) > f.max_length:
            raise _Invalid
        for check in f.checks:
            try:
                check(value)
            except ValueError as exc:
                raise _Invalid from exc
        return value
    if kind == "float":
        if type(value) is int:
            value = float(value)
        elif type(value) is not float or not math.isfinite(value):
            raise _Invalid
        if f.ge is not None and value < f.ge:
            raise _Invalid
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise _Invalid
        return value
    if kind == "datetime":
        if type(value) is not str:
            raise _Invalid
        parsed = times.get(value)
        if parsed is None:
            try:
                parsed = times[value] = _DATETIME.validate_python(value)
            except ValidationError as exc:
                raise _Invalid from exc
        return parsed
    raise _Invalid


def _object(
    value: Any, fields: tuple[_Field, ...], names: frozenset[str], times: dict[str, dt.datetime]
) -> dict[str, Any]:
    """Fast check of one flat object; nested lists/dicts are returned as they are."""
    if type(value) is not dict or not value.keys() <= names:
        raise _Invalid
    out: dict[str, Any] = {}
    for f in fields:
        v = value.get(f.name)
        if v is None and f.required:
            raise _Invalid
        if f.kind in ("list", "dict"):
            if v is None and not f.nullable:
                raise _Invalid
            out[f.name] = v
        else:
            out[f.name] = _scalar(f, v, times)
    return out


def _pydantic(
    model: type[BaseModel], value: Any, loc: tuple[Any, ...], errors: list[dict[str, str]]
) -> dict[str, Any] | None:
    """Validate ``value`` with the model itself: its errors, or its values as plain data."""
    try:
        return model.model_validate(value).model_dump()
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            errors.append(field_error(loc_to_field((*loc, *e["loc"])), error_message(dict(e))))
        return None


def _customer(
    value: Any, i: int, times: dict[str, dt.datetime], errors: list[dict[str, str]]
) -> dict[str, Any] | None:
    try:
        cust = _object(value, CUSTOMER_FIELDS, _CUSTOMER_NAMES, times)
        txs, feats = cust["transactions"], cust["features"]
        if (txs is None) == (feats is None):
            raise _Invalid
        if feats is not None:
            if (
                type(feats) is not dict
                or len(feats) > MAX_FEATURE_KEYS
                or not all(
                    type(k) is str and 0 < len(k) <= ID_MAX and type(v) in (float, int) and math.isfinite(v)
                    for k, v in feats.items()
                )
            ):
                raise _Invalid
            cust["features"] = {k: float(v) for k, v in feats.items()}
            return cust
        if type(txs) is not list or not txs:
            raise _Invalid
    except _Invalid:
        return _pydantic(Customer, value, ("customers", i), errors)
    lines = []
    for j, t in enumerate(txs):
        try:
            lines.append(_object(t, TX_FIELDS, _TX_NAMES, times))
        except _Invalid:
            line = _pydantic(Transaction, t, ("customers", i, "transactions", j), errors)
            if line is not None:
                lines.append(line)
    cust["transactions"] = lines
    return cust


def parse_assign(body: bytes) -> dict[str, Any]:
    """Decode and validate a /v1/assign body into plain data (datetimes parsed).

    Returns
    -------
    dict
        ``{"as_of": datetime | None, "customers": [{"customer_id", "transactions", "features"}]}``
        with every transaction as a dict of all :class:`~app.schemas.Transaction` fields.

    Raises
    ------
    InvalidInput
        Malformed JSON or any schema violation, with every field that is wrong.
    """
    if not body.strip():
        raise InvalidInput("body: is required (a JSON object)", [field_error("body", "Field required")])
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _lenient_json(body, exc)
    times: dict[str, dt.datetime] = {}
    errors: list[dict[str, str]] = []
    try:
        request = _object(data, REQUEST_FIELDS, _REQUEST_NAMES, times)
        customers = request["customers"]
        if type(customers) is not list or not customers:
            raise _Invalid
    except _Invalid:
        checked = _pydantic(AssignRequest, data, (), errors)
        if checked is None:
            raise InvalidInput(_summary(errors), errors) from None
        return checked
    request["customers"] = [_customer(c, i, times, errors) for i, c in enumerate(customers)]
    if errors:
        raise InvalidInput(_summary(errors), errors)
    return request


def _lenient_json(body: bytes, error: orjson.JSONDecodeError) -> Any:
    """What orjson refuses, Python's json may read: NaN, Infinity, 1e999, lone surrogates.

    The schema then refuses those values at their field (``customers[0].features.x``)
    instead of the whole body; anything else is malformed JSON.
    """
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError, or a body that is not UTF-8
        message = f"malformed JSON at character {error.pos}: {error.msg}"
        raise InvalidInput(f"body: {message}", [field_error("body", message)]) from error


def _summary(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
