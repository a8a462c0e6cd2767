"""Parse a POST /v1/assign body from raw bytes in one pass, by the schema of app.schemas.

The pydantic models in :mod:`app.schemas` stay the one schema: they feed the OpenAPI
document, and the lean validator here is generated from their fields (types, required,
constraints, ``extra="forbid"``) as TypedDicts, which pydantic-core validates straight
from the JSON bytes into plain dicts and lists (no model instances). A body that fails
is validated again by the models themselves, so errors are exactly pydantic's, at the
same fields (``customers[3].transactions[2].timestamp``), and a body the lean validator
is stricter about than the models is answered with the models' values.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, NotRequired

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from app.errors import InvalidInput, error_message, field_error, loc_to_field
from app.schemas import AssignRequest, Customer, Transaction


def lean_schema(model: type[BaseModel], nested: dict[str, Any], bare: dict[str, Any] | None = None) -> Any:
    """A TypedDict with ``model``'s fields and constraints.

    ``nested``: field types to replace (constraints kept); ``bare``: whole field
    annotations to replace (the model's validators and constraints dropped).
    """
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = nested.get(name, info.annotation)
        typed = Annotated[kind, *info.metadata] if info.metadata else kind
        typed = (bare or {}).get(name, typed)
        fields[name] = typed if info.is_required() else NotRequired[typed]
    lean = TypedDict(model.__name__, fields)  # type: ignore[misc]
    return with_config(ConfigDict(extra=model.model_config.get("extra")))(lean)


# A line's timestamp is taken as text here and parsed by :func:`_parse_timestamps`, once
# per distinct text, by pydantic's own datetime parser: the model's two Python validators
# per line cost more than the rest of the parse, and the lines of one order share their
# timestamp. ``_iso_text`` (no JSON numbers) holds since ``str`` refuses numbers;
# :func:`app.histories.history_lines` converts to UTC (``_to_utc``) once per distinct
# timestamp, with the same error when that leaves years 1-9999.
LeanTransaction = lean_schema(Transaction, {}, {"timestamp": str})
_DATETIME = TypeAdapter(dt.datetime)
LeanCustomer = lean_schema(Customer, {"transactions": list[LeanTransaction] | None})  # type: ignore[valid-type]
LeanRequest = lean_schema(AssignRequest, {"customers": list[LeanCustomer]})  # type: ignore[valid-type]
LEAN = TypeAdapter(LeanRequest)


def parse_assign(body: bytes) -> dict[str, Any]:
    """Decode and validate a /v1/assign body into plain data (datetimes parsed).

    Returns
    -------
    dict
        The request as dicts and lists; optional fields absent from the body are absent.

    Raises
    ------
    InvalidInput
        Malformed JSON or any schema violation, with every field that is wrong.
    """
    try:
        request: dict[str, Any] = LEAN.validate_json(body)
        _parse_timestamps(request["customers"])
    except ValidationError:
        return _by_the_models(body)
    errors: list[dict[str, str]] = []
    for i, cust in enumerate(request["customers"]):
        if (cust.get("transactions") is None) == (cust.get("features") is None):
            _model_errors(Customer, cust, ("customers", i), errors)  # the model's own one-of rule
    if errors:
        raise InvalidInput(_summary(errors), errors)
    return request


def _parse_timestamps(customers: list[dict[str, Any]]) -> None:
    """Line timestamps from text to datetimes in place; equal texts share one datetime."""
    parsed: dict[str, dt.datetime] = {}
    for cust in customers:
        for t in cust.get("transactions") or ():
            text = t["timestamp"]
            stamp = parsed.get(text)
            if stamp is None:
                stamp = parsed[text] = _DATETIME.validate_strings(text)
            t["timestamp"] = stamp


def _by_the_models(body: bytes) -> dict[str, Any]:
    """A body the lean validator refused, validated by the models: their errors, or their values."""
    if not body.strip():
        raise InvalidInput("body: Field required", [field_error("body", "Field required")])
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _lenient_json(body, exc)
    errors: list[dict[str, str]] = []
    request = _model_errors(AssignRequest, data, (), errors)
    if request is None:
        raise InvalidInput(_summary(errors), errors)
    return request.model_dump(exclude_unset=True)


def _model_errors(
    model: type[BaseModel], value: Any, loc: tuple[Any, ...], errors: list[dict[str, str]]
) -> BaseModel | None:
    """``value`` validated by ``model``, or None with its errors (at ``loc``) added to ``errors``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            errors.append(field_error(loc_to_field((*loc, *e["loc"])), error_message(dict(e))))
        return None


def _summary(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])


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
