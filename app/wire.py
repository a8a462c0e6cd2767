"""The /v1/assign request schema for msgspec, generated from the pydantic models.

The pydantic models in :mod:`app.schemas` stay the one schema (the OpenAPI document, the
errors); this module translates their fields into TypedDicts with msgspec constraints, which
msgspec decodes straight from the JSON bytes into plain dicts and lists, about 2.7x faster
than pydantic-core (a 1 MB body of 1,000 customers: 2.0 ms against 5.4 ms). A field a body
does not give is absent from its dict, as in pydantic's; msgspec drops keys the schema does
not name, so the parser counts the keys (a repeated or unknown key sends the body to the
models).

Translated: length bounds (``MinLen``, ``MaxLen``, ``StringConstraints``) become
``msgspec.Meta``; strict finite floats are msgspec's floats (from JSON: integers taken,
booleans, strings and numbers out of range refused, as the models do). Python validators
are not run by msgspec: their functions are returned per field and the parser runs them
after decoding. Any other constraint makes generation fail, so the schema cannot gain a rule
that this path would silently skip.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, NotRequired, TypedDict

import msgspec
from annotated_types import GroupedMetadata, MaxLen, MinLen
from pydantic import AfterValidator, AllowInfNan, BaseModel, PlainValidator, Strict
from pydantic.fields import FieldInfo

#: Functions to run on a field's decoded value (the model's own validators), by field name.
Checks = dict[str, list[Callable[[Any], Any]]]


class Wire(NamedTuple):
    """A model's schema for msgspec and the validators to run after decoding."""

    schema: Any
    checks: Checks


def wire_schema(
    model: type[BaseModel], nested: dict[str, Any] | None = None, bare: dict[str, Any] | None = None
) -> Wire:
    """A TypedDict with ``model``'s fields and length bounds, for msgspec to decode into.

    ``nested``: field types to replace (the field's own constraints kept); ``bare``: field
    types to replace, constraints and validators dropped (read later by other rules).
    msgspec drops keys a TypedDict does not name: the parser counts keys to find them.
    """
    fields: dict[str, Any] = {}
    checks: Checks = {}
    for name, info in model.model_fields.items():
        if name in (bare or {}):
            kind = (bare or {})[name]
        else:
            found: list[Callable[[Any], Any]] = []
            kind = _translate(info.annotation, list(info.metadata), found, (nested or {}).get(name))
            if found:
                checks[name] = found
        fields[name] = kind if info.is_required() else NotRequired[kind]
    return Wire(TypedDict(model.__name__, fields), checks)  # type: ignore[operator]


def _translate(tp: Any, metadata: list[Any], checks: list[Callable[[Any], Any]], inner: Any = None) -> Any:
    """``tp`` (with ``metadata``) as a msgspec type; the field's validators go to ``checks``.

    ``inner`` replaces the type itself (a nested model's TypedDict), its bounds kept.
    """
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *more = typing.get_args(tp)
        return _translate(base, [*more, *metadata], checks, inner)
    if origin in (typing.Union, types.UnionType):
        parts = [
            a if a is type(None) else _translate(a, metadata, checks, inner) for a in typing.get_args(tp)
        ]
        return typing.Union[tuple(parts)]  # noqa: UP007 (built from a list)
    min_length = max_length = None
    for meta in _flat(metadata):
        if isinstance(meta, MinLen):
            min_length = meta.min_length
        elif isinstance(meta, MaxLen):
            max_length = meta.max_length
        elif isinstance(meta, AfterValidator | PlainValidator):
            checks.append(meta.func)  # type: ignore[arg-type]
            if isinstance(meta, PlainValidator):
                tp = meta.json_schema_input_type  # what it reads from JSON
        elif not isinstance(meta, Strict | AllowInfNan):
            # (msgspec's JSON floats and strings are strict and finite already)
            raise TypeError(f"no msgspec translation for the constraint {meta!r}")

    def bounded(kind: Any) -> Any:
        if min_length is None and max_length is None:
            return kind
        return Annotated[kind, msgspec.Meta(min_length=min_length, max_length=max_length)]

    if inner is not None:
        return bounded(inner)
    args = [_item(a) for a in typing.get_args(tp)]
    if origin is list:
        tp = list[args[0]]  # type: ignore[valid-type]
    elif origin is dict:
        tp = dict[args[0], args[1]]  # type: ignore[valid-type]
    elif tp not in (str, float, bool, int):
        raise TypeError(f"no msgspec translation for the type {tp!r}")
    return bounded(tp)


def _flat(metadata: list[Any]) -> list[Any]:
    """Constraints one by one: grouped ones (``StringConstraints``) and a ``Field()`` inside
    ``Annotated`` give their parts."""
    out: list[Any] = []
    for meta in metadata:
        if isinstance(meta, FieldInfo):
            out += _flat(meta.metadata)
        elif isinstance(meta, GroupedMetadata):
            out += list(meta)
        else:
            out.append(meta)
    return out


def _item(tp: Any) -> Any:
    """A list's item or a dict's key or value type: constraints only (a validator would apply
    to the whole field's value if returned, so there must be none)."""
    checks: list[Callable[[Any], Any]] = []
    kind = _translate(tp, [], checks)
    if checks:
        raise TypeError(f"no msgspec translation for validators inside {tp!r}")
    return kind
