"""The spec's schemas as a validator: OpenAPI 3.0 ``nullable`` rewritten the 3.1 way.

Shared by the server's schema tests, the body validation tests and the fuzz tests
(``pythonpath = ["tests"]`` in pyproject makes it importable from every test folder).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS31Validator

HERE = Path(__file__).resolve().parent
SPECS = {"assistants": HERE / "assistants-v2.openapi.yaml",
         "chat": HERE / "chat-completions.openapi.yaml",   # the engines' upstream requests
         "responses": HERE / "responses.openapi.yaml"}
SPEC = SPECS["assistants"]
NULLABLE_ONLY = {"nullable": True}


def to_oas31(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` the 3.1 way (type lists or anyOf with null)."""
    if isinstance(node, list):
        return [to_oas31(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    nullable = bool(node.pop("nullable", False))
    if "allOf" in node and NULLABLE_ONLY in node["allOf"]:
        nullable, node["allOf"] = True, [m for m in node["allOf"] if m != NULLABLE_ONLY]
    node = {key: to_oas31(value) for key, value in node.items()}
    if not nullable:
        return node
    if isinstance(node.get("type"), str) and not {"$ref", "anyOf", "oneOf", "allOf"} & set(node):
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        return node
    return {"anyOf": [node, {"type": "null"}]}


@lru_cache(maxsize=None)
def schemas(spec: str = "assistants") -> dict:
    """A spec's component schemas, made valid OpenAPI 3.1."""
    return to_oas31(yaml.safe_load(SPECS[spec].read_text())["components"]["schemas"])


@lru_cache(maxsize=None)
def validator(name: str, spec: str = "assistants") -> OAS31Validator:
    """A validator for one component schema of a spec."""
    return OAS31Validator({"$ref": f"#/components/schemas/{name}",
                           "components": {"schemas": schemas(spec)}})


def schema_errors(name: str, instance: Any, width: int = 200, spec: str = "assistants") -> list[str]:
    """Every way ``instance`` breaks schema ``name`` of ``spec``, one short line each."""
    return [f"{list(e.absolute_path)}: {e.message[:width]}"
            for e in validator(name, spec).iter_errors(instance)]
