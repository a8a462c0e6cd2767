"""Parse a POST /v1/assign body from raw bytes in one pass, by the schema of app.schemas.

The pydantic models in :mod:`app.schemas` stay the one schema: they feed the OpenAPI
document, and the fast parse here is generated from their fields (types, required, length
bounds, validators: :mod:`app.wire`), which msgspec decodes straight from the JSON bytes
into plain dicts and lists (no model instances). A key the schema does not name, or one an
object repeats, is found by counting keys (msgspec would drop or overwrite it). A body that
fails is validated again by the models themselves, so errors are exactly pydantic's, at the
same fields (``customers[3].transactions[2].timestamp``), and a body the fast parse is
stricter about than the models is answered with the models' values.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
from pydantic import BaseModel, Field, ValidationError, create_model

from shopper_segments.app.errors import InvalidInput, error_message, field_error, loc_to_field
from shopper_segments.app.limits import (
    Limits,
    check_counts,
    check_json_shape,
    check_unique_keys,
    count_keys,
    key_bound,
    refuse,
    structure_of,
)
from shopper_segments.app.schemas import AssignRequest, Customer, Transaction, usable_id
from shopper_segments.app.wire import Checks, wire_schema

# A line's timestamp is taken as text here: :func:`app.histories.history_lines` reads it
# by the rulebook once per distinct text, and a bad one is that customer's error, not the
# request's. (The model's validator per line would cost more than the rest of the parse.)
LINE = wire_schema(Transaction, bare={"timestamp": str})
CUSTOMER = wire_schema(Customer, nested={"transactions": list[LINE.schema]})  # type: ignore[name-defined]
REQUEST = wire_schema(AssignRequest, nested={"customers": list[CUSTOMER.schema]})  # type: ignore[name-defined]
_DECODE = msgspec.json.Decoder(REQUEST.schema).decode
#: Bodies up to this size are decoded before their shape is checked (a one-customer body:
#: the check was 4.4 us of its 7.9 us parse); larger ones are checked first, so that a
#: refusal never costs their decoding.
DECODE_FIRST_BYTES = 16 * 1024


def parse_assign(body: bytes, strict: bool = False, limits: Limits | None = None) -> dict[str, Any]:
    """Decode and validate a /v1/assign body into plain data.

    A problem of the request (malformed JSON, a wrong top-level field, no customers)
    refuses it. A customer that breaks the schema is kept in its place with its errors
    under ``_errors`` (and its id, when usable), to be answered ``invalid``; with
    ``strict`` (here or in the body) any such customer refuses the request.

    With ``limits``, the body's shape is checked on its bytes (encoding, number of objects,
    nesting: :mod:`app.limits`), so that no refusal costs more than the body, and a key
    repeated in an object is refused. A body over :data:`DECODE_FIRST_BYTES` is checked
    before it is decoded; a smaller one, whose decoding costs less than the check, only when
    the fast parse does not take it whole. The parsed request is then held to the limits
    (:func:`app.limits.check_counts`: the same request-wide rule as the shape check's, and
    each customer's own lines).

    Raises
    ------
    InvalidInput
        Malformed JSON, a request-level schema violation, with every field that is wrong, or a
        request over the limits.
    """
    request = _parse(body, strict, limits)
    if limits is not None:
        check_counts(request, limits)
    return request


def _parse(body: bytes, strict: bool, limits: Limits | None) -> dict[str, Any]:
    keys = check_json_shape(body, limits) if limits is not None and len(body) > DECODE_FIRST_BYTES else None
    try:
        request: dict[str, Any] = _DECODE(body)
        _run_checks(request)
    except (msgspec.DecodeError, ValueError):  # msgspec's ValidationError is a DecodeError
        return _by_the_models(body, strict, _exact_keys(body, limits, keys))
    found = count_keys(request)
    if found != (keys if keys is not None else key_bound(body)):
        keys = _exact_keys(body, limits, keys)
        if found != keys:  # a repeated key, or one the schema does not name
            return _by_the_models(body, strict, keys)
    errors: list[dict[str, str]] = []
    for i, cust in enumerate(request["customers"]):
        if (cust.get("transactions") is None) == (cust.get("features") is None):
            own: list[dict[str, str]] = []
            fixed = _model_errors(Customer, cust, ("customers", i), own)  # the model's one-of rule
            request["customers"][i] = _customer(fixed, cust, own)
            errors += own
    if errors and (strict or request.get("strict")):
        raise refuse(errors)
    return request


def _exact_keys(body: bytes, limits: Limits | None, keys: int | None) -> int:
    """The body's keys; the shape check counts them when it has not run yet (and may refuse)."""
    if keys is not None:
        return keys
    return structure_of(body).count(b":") if limits is None else check_json_shape(body, limits)


def _run_checks(request: dict[str, Any]) -> None:
    """The models' own validators (customer ids, ``as_of``) on the decoded request, in place.

    Raises ValueError where one refuses (the models then say which field and why).
    """
    _checked(request, REQUEST.checks)
    for customer in request["customers"]:
        _checked(customer, CUSTOMER.checks)


def _checked(fields: dict[str, Any], checks: Checks) -> None:
    for name, functions in checks.items():
        if fields.get(name) is not None:
            for check in functions:
                fields[name] = check(fields[name])


def _customer(model: BaseModel | None, raw: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    """A customer as plain data; a refused one keeps its errors (and its id when usable)."""
    if model is not None:  # valid: as the fast parse gives it (timestamps stay text for the rulebook)
        customer: dict[str, Any] = msgspec.convert(raw, CUSTOMER.schema, strict=False)
        _checked(customer, CUSTOMER.checks)  # the id normalized, as the model read it
        return customer
    cid = usable_id(raw.get("customer_id")) if isinstance(raw, dict) else None
    return {"customer_id": cid, "_errors": list(errors)}


# The request with its customers unchecked (they are validated one by one); named as the
# request model so that its errors read the same.
_Shell = create_model("AssignRequest", __base__=AssignRequest, customers=(list[Any], Field(min_length=1)))


def _by_the_models(body: bytes, strict: bool, keys: int) -> dict[str, Any]:
    """A body the fast parse refused, validated by the models, customer by customer."""
    if not body.strip():
        raise InvalidInput("body: Field required", [field_error("body", "Field required")])
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _lenient_json(body, exc)
    if isinstance(data, dict) and count_keys(data) != keys:
        check_unique_keys(body)
    errors: list[dict[str, str]] = []
    shell = _model_errors(_Shell, data, (), errors)
    if shell is None:
        raise refuse(errors)
    request = shell.model_dump(exclude_unset=True)
    customers = []
    for i, raw in enumerate(request["customers"]):
        own: list[dict[str, str]] = []
        customers.append(_customer(_model_errors(Customer, raw, ("customers", i), own), raw, own))
        errors += own
    if errors and (strict or request.get("strict")):
        raise refuse(errors)
    request["customers"] = customers
    return request


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


def _lenient_json(body: bytes, error: orjson.JSONDecodeError) -> Any:
    """What orjson refuses, Python's json may read: NaN, Infinity, 1e999, lone surrogates.

    The schema then refuses those values at their field (``customers[0].features.x``)
    instead of the whole body; anything else is malformed JSON.
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, not UTF-8, or nested without end
        message = f"malformed JSON at character {error.pos}: {error.msg}"
        raise InvalidInput(f"body: {message}", [field_error("body", message)]) from error
