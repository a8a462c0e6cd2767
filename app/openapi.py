"""The OpenAPI document, plus request schemas of routes that parse their body themselves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shopper_segments.app.errors import PROBLEM_MEDIA_TYPE
from shopper_segments.app.responses import Problem
from shopper_segments.app.schemas import AssignRequest

#: Models documented as request bodies by reference (routes read them from raw bytes).
REQUEST_MODELS = (AssignRequest,)


def install_request_schemas(app: FastAPI) -> None:
    """Add the pydantic JSON schemas of :data:`REQUEST_MODELS` to the document's components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in REQUEST_MODELS:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas[model.__name__] = schema
        problem_media_type(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def problem_media_type(doc: dict[str, Any]) -> None:
    """Document every error answer as what it is: ``application/problem+json`` with :class:`Problem`.

    FastAPI documents a ``responses={...: {"model": Problem}}`` entry, and its own 422, as
    ``application/json`` (the 422 with its ``HTTPValidationError`` shape, which our handler
    replaces by a problem document).
    """
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        Problem.__name__, Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    ref = {"$ref": f"#/components/schemas/{Problem.__name__}"}
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status)[0] in "45" and "application/json" in content:
                    del content["application/json"]
                    content[PROBLEM_MEDIA_TYPE] = {"schema": ref}
