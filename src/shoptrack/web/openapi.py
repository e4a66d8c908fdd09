"""The OpenAPI schema as the API really behaves: its error answers, key and bodies.

FastAPI documents a 422 ``HTTPValidationError`` for every operation with parameters; ours
answer 400 with the one error shape instead (api/handlers.py), so :func:`refine` replaces the
generated error responses with the real ones:

* 400 on every operation that takes parameters or a body (the error names the field);
* 401 on every operation that needs the API key (its ``security`` says so);
* 404 on every operation with a path parameter (no such feed, block, contact, product);
* any status a route declares itself (413 where a body has a size limit, 503 where events are
  stored) gets the error shape.

Routes that read their JSON body themselves (limit-checked, see collector/limits.py) declare
the body's schema with :func:`request_body`.
"""

from __future__ import annotations

from typing import Any

from shoptrack.errors import Reason

ERROR_SCHEMA_NAME = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "enum": [reason.value for reason in Reason]},
                "message": {"type": "string", "description": "what is wrong, for people"},
                "field": {
                    "type": ["string", "null"],
                    "description": "the field at fault (dotted path), when there is one",
                },
            },
        }
    },
    "example": {
        "error": {"code": "invalid_value", "message": "limit: must be 1..1000", "field": "limit"}
    },
}
ERROR_DESCRIPTIONS = {
    "400": "Invalid request: the error names the field and the problem",
    "401": "The API key is missing or not valid",
    "404": "No such resource (or path)",
    "413": "The body is larger than the configured limit, or holds too many items",
    "503": "The store could not commit: nothing was acknowledged, retry",
}
NO_NUL_PATTERN = "^[^\\u0000]*$"
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

# Statuses a route may declare with ``responses=`` (FastAPI fills in the rest).
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: {"description": ERROR_DESCRIPTIONS["413"]}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"description": ERROR_DESCRIPTIONS["503"]}}


def request_body(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads and checks its JSON body itself."""
    content = {"application/json": {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "content": content}}


def _error_response(status: str, declared: dict[str, Any] | None) -> dict[str, Any]:
    if declared and "content" in declared:
        return declared  # a route that answers this status in its own shape says so
    description = (declared or {}).get("description") or ERROR_DESCRIPTIONS.get(status, "Error")
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without FastAPI's ``null`` alternative for an optional value: a
    query or path value is a string, never null; an optional one is simply not sent."""
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [option for option in options if option != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(options):
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **rest}


def _without_nul(schema: dict[str, Any]) -> dict[str, Any]:
    """A string parameter of an /api/v1 route: NUL is refused in every path and query value
    (auth.require_site; PostgreSQL text cannot hold it), so the schema says so."""
    if schema.get("type") != "string" or "pattern" in schema or "enum" in schema:
        return schema
    return {**schema, "pattern": NO_NUL_PATTERN}


def _refine_operation(path: str, operation: dict[str, Any]) -> None:
    keyed = bool(operation.get("security"))
    for parameter in operation.get("parameters", ()):
        if "schema" in parameter:
            parameter["schema"] = _not_null(parameter["schema"])
            if keyed and parameter.get("in") in ("path", "query"):
                parameter["schema"] = _without_nul(parameter["schema"])
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    expected: list[str] = []
    if operation.get("parameters") or operation.get("requestBody"):
        expected.append("400")
    if operation.get("security"):
        expected.append("401")
    if "{" in path:
        expected.append("404")
    for status in expected:
        responses.setdefault(status, None)
    for status in list(responses):
        if status[:1] in ("4", "5"):
            responses[status] = _error_response(status, responses[status])
    operation["responses"] = dict(sorted(responses.items()))


def refine(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated schema, with the real error answers (see the module's docstring)."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in _HTTP_METHODS:
                _refine_operation(path, operation)
    schemas: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    return schema
