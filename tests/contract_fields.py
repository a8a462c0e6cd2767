"""Every field of the model contract, walked recursively, with a value of the wrong type for each.

A field is addressed as pydantic reports it: ``segments[0].share``,
``feature_ranges.recency_days.min``, ``artifacts.pipeline.joblib`` (aliases as keys).
"""

from __future__ import annotations

import copy
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel

from shopper_segments.core.contract import ModelMetadata


@dataclass(frozen=True)
class FieldCase:
    """One field of one metadata document: where it is and what it is declared as."""

    path: str  # as pydantic names it in an error
    keys: tuple[str | int, ...]  # the way to it in the JSON document
    pattern: str  # the path with list indexes as [] and dict keys as *
    annotation: Any

    def wrong_value(self) -> Any:
        """A JSON value the declared type refuses (a container for scalars, a string for the rest)."""
        inner = unwrap(self.annotation)
        container = typing.get_origin(inner) in (list, tuple, dict) or is_model(inner)
        return "not the declared type" if container else ["not", "the", "declared", "type"]


def unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> X, ``X | None`` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def key_of(name: str, model: type[BaseModel]) -> str:
    return model.model_fields[name].alias or name


def declared(model: type[BaseModel] = ModelMetadata, prefix: str = "") -> set[str]:
    """Every field pattern the contract declares (``segments[].share``, ``feature_bins.*.edges``)."""
    out = set()
    for name, info in model.model_fields.items():
        here = f"{prefix}.{key_of(name, model)}" if prefix else key_of(name, model)
        out.add(here)
        out |= _declared_inside(unwrap(info.annotation), here)
    return out


def _declared_inside(annotation: Any, here: str) -> set[str]:
    if is_model(annotation):
        return declared(annotation, here)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return _declared_inside(unwrap(args[0]), f"{here}[]")
    if origin is dict and args:
        return _declared_inside(unwrap(args[1]), f"{here}.*")
    return set()


def walk(document: dict[str, Any], model: type[BaseModel] = ModelMetadata) -> list[FieldCase]:
    """The fields of ``document`` (parsed as ``model``): the first item of lists, the first key of dicts."""
    return _walk(document, model, "", (), "")


def _walk(
    value: dict[str, Any], model: type[BaseModel], path: str, keys: tuple[str | int, ...], pattern: str
) -> list[FieldCase]:
    out = []
    for name, info in model.model_fields.items():
        key = key_of(name, model)
        here, here_keys = (f"{path}.{key}" if path else key), (*keys, key)
        here_pattern = f"{pattern}.{key}" if pattern else key
        out.append(FieldCase(here, here_keys, here_pattern, info.annotation))
        out += _inside(value.get(key), unwrap(info.annotation), here, here_keys, here_pattern)
    return out


def _inside(
    value: Any, annotation: Any, path: str, keys: tuple[str | int, ...], pattern: str
) -> list[FieldCase]:
    if value is None:
        return []
    if is_model(annotation):
        return _walk(value, annotation, path, keys, pattern)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args and value:
        return _inside(value[0], unwrap(args[0]), f"{path}[0]", (*keys, 0), f"{pattern}[]")
    if origin is dict and args and value:
        first = next(iter(value))
        return _inside(value[first], unwrap(args[1]), f"{path}.{first}", (*keys, first), f"{pattern}.*")
    return []


def without(document: dict[str, Any], keys: tuple[str | int, ...]) -> dict[str, Any]:
    """A copy of ``document`` without the value at ``keys``."""
    out = _copy(document)
    parent = _at(out, keys[:-1])
    del parent[keys[-1]]
    return out


def replaced(document: dict[str, Any], keys: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``value`` at ``keys``."""
    out = _copy(document)
    _at(out, keys[:-1])[keys[-1]] = value
    return out


def _at(document: Any, keys: tuple[str | int, ...]) -> Any:
    for key in keys:
        document = document[key]
    return document


def _copy(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(document)
