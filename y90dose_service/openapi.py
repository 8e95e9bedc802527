"""Request bodies the routes parse themselves, documented in the OpenAPI schema.

Routes whose body is one of several core models (MIRD plan or dose) read the JSON
themselves; they declare it here so that ``/docs`` still shows every schema with its
units.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"
DOCUMENTED_MODELS: list[type[BaseModel]] = []


def json_body(*models: type[BaseModel], description: str) -> dict[str, Any]:
    """``openapi_extra`` for a JSON body that is one of ``models``."""
    for model in models:
        if model not in DOCUMENTED_MODELS:
            DOCUMENTED_MODELS.append(model)
    refs = [{"$ref": REF_TEMPLATE.format(model=m.__name__)} for m in models]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def add_documented_models(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the schemas of every model named by :func:`json_body` to ``openapi``."""
    if not DOCUMENTED_MODELS:
        return openapi
    _, top = models_json_schema(
        [(m, "validation") for m in DOCUMENTED_MODELS], ref_template=REF_TEMPLATE
    )
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in top.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    return openapi
