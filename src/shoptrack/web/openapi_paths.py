"""The schema's path items for the routes FastAPI does not generate one for.

``/webevent`` and ``/api/v2`` are plain ASGI ahead of FastAPI (web/ingest.py), ``/recs`` and
``/scripts`` plain Starlette routes: FastAPI knows nothing of their parameters, bodies or
answers, so they are written here and merged into the generated schema by
:func:`describe_plain_routes`. The paths come from the same settings the routes are built
from, and tests/web/api/test_openapi.py checks both ways that every served path is described
and every described one is served, with the statuses it answers (Schemathesis, in
tests/web/test_schemathesis.py).

This is documentation only: nothing here runs on a request. The bodies are as loose as the
readers (collector/wire.py, events/normalize.py): the tracker and shops send numbers as strings,
ids as numbers, extra fields, and all of it is accepted.
"""

from __future__ import annotations

from typing import Any

from shoptrack.config import Settings
from shoptrack.triggers.unsubscribe import UNSUBSCRIBE_PATH
from shoptrack.web.openapi import ERROR_DESCRIPTIONS, ERROR_REF, ERROR_SCHEMA

_JSON = "application/json"
_ANY_VALUE: dict[str, Any] = {}
_TEXT_OR_NUMBER: dict[str, Any] = {"type": ["string", "integer"]}
_MILLISECONDS: dict[str, Any] = {
    "type": ["integer", "string", "null"],
    "description": "milliseconds since 1970 (a string of digits is read as a number)",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _header(description: str, *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


_CORS_HEADERS = {
    "Access-Control-Allow-Origin": _header("`*`: the tracker calls from the shop's pages"),
}
_RETRY_AFTER = {"Retry-After": _header("seconds to wait before retrying")}

PAGE: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "the page the event happened on",
    "properties": {
        "url": {"type": ["string", "null"], "maxLength": 4096},
        "referrer": {"type": ["string", "null"], "maxLength": 4096},
        "title": {"type": ["string", "null"], "maxLength": 1000},
    },
}
WEB_EVENT_BATCH: dict[str, Any] = {
    "title": "WebEventBatch",
    "type": "object",
    "description": "What tracker/eS.js posts (as `text/plain`, so no CORS preflight is needed): "
    "the envelope of one page's events. Each event's `payload` is exactly what the page passed "
    "to `eS('sendEvent', name, payload)` (see the event reference in the README); an event that "
    "cannot be read is refused alone, listed in `rejected` with its index.",
    "required": ["site_id", "events"],
    "properties": {
        "v": {"description": "wire format version (1)"},
        "site_id": {
            "type": "string",
            "description": "the site's id: 1-64 letters, digits, '-' or '_'",
        },
        "visitor_id": {**_TEXT_OR_NUMBER, "description": "the sc cookie"},
        "session_id": _TEXT_OR_NUMBER,
        "sent_at": _MILLISECONDS,
        "page": PAGE,
        "general": {"description": "the GeneralInfo the tracker remembers (an object)"},
        "dropped": {"description": "events the browser dropped before this batch (an integer)"},
        "events": {
            "type": "array",
            "description": "up to SHOPTRACK_MAX_EVENTS_PER_BATCH events",
            "items": {
                "description": "one event (an object): `name`, `payload`, and optionally `id`, "
                "`style` (sendEvent or sendEventWithTags), `time`, `page`, `general`",
                "properties": {
                    "id": {"description": "the tracker's id for the event, for retries"},
                    "style": {"enum": ["sendEvent", "sendEventWithTags"]},
                    "name": {"description": "the event name, e.g. ProductPage"},
                    "payload": {"description": "the event's fields, as the page passed them"},
                    "time": _MILLISECONDS,
                    "page": PAGE,
                },
            },
        },
    },
    "example": {
        "v": 1,
        "site_id": "myshop",
        "visitor_id": "visitor-42",
        "sent_at": 1795082400000,
        "page": {"url": "https://myshop.example/p/24-MB02"},
        "events": [
            {
                "id": "e1",
                "name": "ProductPage",
                "payload": {"productKey": "24-MB02", "price": "153", "isInStock": 1},
                "time": 1795082399000,
            }
        ],
    },
}
REST_EVENT: dict[str, Any] = {
    "title": "RestEvent",
    "type": "object",
    "description": "One server-side event in the hosted platform's REST format: `GeneralInfo` "
    "and a section named like the event (`ProductPage`, `StatusCart`, `PurchasedItems`, "
    "`CustomerData`, …) holding its fields. Values are read loosely (numbers as strings, "
    "0/1 for booleans).",
    "required": ["GeneralInfo"],
    "properties": {
        "GeneralInfo": {
            "type": "object",
            "required": ["eventName"],
            "properties": {
                "eventName": {"type": "string", "minLength": 1},
                "siteId": {
                    "type": "string",
                    "description": "required without an API key; with one, the key's site",
                },
                "datetime": _MILLISECONDS,
                "eventId": {"description": "the client's id, for retries"},
                "sessionId": _TEXT_OR_NUMBER,
                "pageUrl": {"type": ["string", "null"], "maxLength": 4096},
                "cookies": {
                    "type": "object",
                    "properties": {"sc": {**_TEXT_OR_NUMBER, "description": "the visitor"}},
                },
            },
        }
    },
    "example": {
        "GeneralInfo": {
            "eventName": "ProductPage",
            "siteId": "myshop",
            "datetime": 1795082400000,
            "cookies": {"sc": "visitor-42"},
        },
        "ProductPage": {"productKey": "24-MB02", "price": "153", "isInStock": 1},
    },
}
BATCH_ANSWER: dict[str, Any] = {
    "title": "BatchAnswer",
    "type": "object",
    "required": ["accepted", "ids", "rejected"],
    "properties": {
        "accepted": {"type": "integer", "description": "events stored (or already stored)"},
        "ids": {"type": "array", "items": {"type": "string"}},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "error"],
                "properties": {
                    "index": {"type": "integer"},
                    "id": {"type": ["string", "null"]},
                    "error": ERROR_SCHEMA["properties"]["error"],
                },
            },
        },
    },
}
RECS_ERROR: dict[str, Any] = {
    "title": "RecsError",
    "type": "object",
    "description": "The recommendation endpoints' error: a string, handed to the tracker's "
    "callback as it is",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_RECS_ERROR_REF = _ref("RecsError")
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Everything ingestion needs answers",
        "content": {
            _JSON: {
                "schema": {
                    "type": "object",
                    "required": ["status", "version"],
                    "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
                }
            }
        },
    },
    503: {
        "description": "Ingestion cannot work now: `error.field` names the part that failed "
        "(`sites`, `events`, `writer`, `store`)",
        "content": {
            _JSON: {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "unavailable"}},
                        },
                    ]
                }
            }
        },
    },
}
COMPONENTS: dict[str, Any] = {
    "WebEventBatch": WEB_EVENT_BATCH,
    "RestEvent": REST_EVENT,
    "BatchAnswer": BATCH_ANSWER,
    "RecsError": RECS_ERROR,
}


def _json(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {_JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _error(
    status: str, headers: dict[str, Any] | None = None, description: str = ""
) -> dict[str, Any]:
    return _json(ERROR_REF, description or ERROR_DESCRIPTIONS[status], headers)


def _ingestion_errors(headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "400": _error(
            "400",
            headers,
            "Invalid request (not JSON, no site, unknown site…), or every event was refused: "
            "the error names the first problem and field (with the batch's fields when events "
            "were refused one by one)",
        ),
        "413": _error("413", headers),
        "503": _error("503", {**headers, **_RETRY_AFTER}),
    }


def webevent_item() -> dict[str, Any]:
    body = {"schema": _ref("WebEventBatch")}
    return {
        "post": {
            "tags": ["ingestion"],
            "summary": "Events from the browser tracker",
            "description": "Public (no key): the site id in the body names the site. 200 when "
            "any event was stored; events refused one by one are listed in `rejected`.",
            "operationId": "webevent",
            "requestBody": {"required": True, "content": {"text/plain": body, _JSON: body}},
            "responses": {
                "200": _json(
                    _ref("BatchAnswer"),
                    "Stored (retries of stored events count as stored)",
                    _CORS_HEADERS,
                ),
                **_ingestion_errors(_CORS_HEADERS),
            },
        },
        "options": {
            "tags": ["ingestion"],
            "summary": "CORS preflight",
            "operationId": "webevent_preflight",
            "responses": {"204": {"description": "CORS allowed", "headers": _CORS_HEADERS}},
        },
    }


def rest_item() -> dict[str, Any]:
    return {
        "post": {
            "tags": ["ingestion"],
            "summary": "One event from a shop's server (REST format)",
            "description": "With the site's API key the event is the key's site's and may carry "
            "personal data (CustomerData); without one, `GeneralInfo.siteId` names the site.",
            "operationId": "rest_event",
            # Either scheme, or none: the key is optional here.
            "security": [{"apiKey": []}, {"apiKeyBasic": []}, {}],
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("RestEvent")}}},
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["ok", "id"],
                        "properties": {"ok": {"const": True}, "id": {"type": "string"}},
                    },
                    "Stored (a retry of a stored event counts as stored)",
                ),
                **_ingestion_errors({}),
                "401": _error("401"),
                "403": _error(
                    "403", description="GeneralInfo.siteId names another site than the API key's"
                ),
            },
        }
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_SITE_PARAMETER = {
    "name": "site_id",
    "in": "path",
    "required": True,
    "description": "the site's id",
    "schema": {"type": "string", "pattern": "^[^/]+$"},
}


def _recs_answers(payload: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "200": _json(payload, description, _CORS_HEADERS),
        "400": _json(_RECS_ERROR_REF, "Invalid parameter, named in the message", _CORS_HEADERS),
        "404": _json(_RECS_ERROR_REF, "No such site (or variant)", _CORS_HEADERS),
    }


def recs_items(path: str) -> dict[str, dict[str, Any]]:
    base = "/" + path.strip("/")
    preflight = {
        "tags": ["recommendations (public)"],
        "summary": "CORS preflight",
        "parameters": [_SITE_PARAMETER],
        "responses": {"204": {"description": "CORS allowed", "headers": _CORS_HEADERS}},
    }
    products = {
        "type": "object",
        "required": ["products"],
        "properties": {"products": {"type": "array", "items": {"type": "object"}}},
    }
    blocks = {
        "type": "object",
        "required": ["blocks"],
        "properties": {"blocks": {"type": "array", "items": {"type": "object"}}},
    }
    return {
        f"{base}/{{site_id}}": {
            "get": {
                "tags": ["recommendations (public)"],
                "summary": "Recommended products of one block variant, for the tracker",
                "operationId": "public_recommendations",
                "parameters": [
                    _SITE_PARAMETER,
                    _query("variant", "the block variant, e.g. r12v34 (required, or variantId)"),
                    _query("variantId", "the variant, as the hosted platform's tracker names it"),
                    _query("visitor", "the sc cookie: their recent events personalize"),
                    _query("product", "a product key the page shows"),
                    _query("products", "product keys, comma-separated (a cart)"),
                    _query("category", "the category the page shows"),
                    _query("all_fields", "1: every product field, not only the card's"),
                    _query("filters", "filters as JSON, as a block's filters"),
                    _query("limit", "how many, 1..100", {"type": "string", "pattern": "^[0-9]+$"}),
                ],
                "responses": _recs_answers(products, "The recommended products"),
            },
            "options": {**preflight, "operationId": "public_recommendations_preflight"},
        },
        f"{base}/{{site_id}}/blocks": {
            "get": {
                "tags": ["recommendations (public)"],
                "summary": "The live blocks of a page type, each with the visitor's variant",
                "operationId": "public_page_blocks",
                "parameters": [
                    _SITE_PARAMETER,
                    _query("page_type", "the page type (default: any)"),
                    _query("visitor", "the sc cookie: picks their variant"),
                    _query("preview", "a preview token: blocks in preview too"),
                ],
                "responses": _recs_answers(blocks, "The blocks"),
            },
            "options": {**preflight, "operationId": "public_page_blocks_preflight"},
        },
    }


def _script_item(summary: str, operation_id: str) -> dict[str, Any]:
    script = {"application/javascript": {"schema": {"type": "string"}}}
    get = {
        "tags": ["tracker"],
        "summary": summary,
        "description": "Minified, with the site and addresses baked in; gzip or brotli as the "
        "request accepts. An unknown site gets a one-line script that warns in the console.",
        "operationId": operation_id,
        "parameters": [
            _SITE_PARAMETER,
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": {
                "description": "The script",
                "content": script,
                "headers": {"Cache-Control": _header("how long caches may keep it")},
            },
            "304": {"description": "The cached copy (its ETag) is current"},
        },
    }
    return {"get": get}


def script_items(script_path: str) -> dict[str, dict[str, Any]]:
    base = "/" + script_path.strip("/")
    return {
        f"{base}/{{site_id}}.recs.js": _script_item(
            "The tracker's recommendations part", "tracker_recs_script"
        ),
        f"{base}/{{site_id}}.js": _script_item(
            "The browser tracker for one site", "tracker_script"
        ),
    }


def unsubscribe_item() -> dict[str, dict[str, Any]]:
    """``/unsubscribe/{token}`` (web/unsubscribe.py): the link of every trigger message."""
    token = {
        "name": "token",
        "in": "path",
        "required": True,
        "description": "the signed token of the message's link",
        "schema": {"type": "string"},
    }
    page = {"text/html": {"schema": {"type": "string"}}}
    not_ours = _error("404", description="The token is not one this server signed")
    common = {"tags": ["triggers"], "parameters": [token], "security": []}
    form = {
        "type": "object",
        "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}},
    }
    return {
        f"{UNSUBSCRIBE_PATH}/{{token}}": {
            "get": {
                **common,
                "summary": "The confirmation page of an unsubscribe link (changes nothing)",
                "operationId": "unsubscribe_page",
                "responses": {"200": {"description": "The page", "content": page}, "404": not_ours},
            },
            "post": {
                **common,
                "summary": "Unsubscribe: the page's button, or a mail client's RFC 8058 one-click",
                "operationId": "unsubscribe",
                "requestBody": {
                    "required": False,
                    "content": {"application/x-www-form-urlencoded": {"schema": form}},
                },
                "responses": {
                    "200": {"description": "Unsubscribed (also when already)", "content": page},
                    "404": not_ours,
                },
            },
        }
    }


def plain_route_items(settings: Settings) -> dict[str, dict[str, Any]]:
    """The path items of every route FastAPI does not describe, at the configured paths."""
    return {
        settings.event_path: webevent_item(),
        "/api/v2": rest_item(),
        **recs_items(settings.recs_path),
        **script_items(settings.script_path),
        **unsubscribe_item(),
    }


def describe_plain_routes(
    schema: dict[str, Any], items: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``schema`` (FastAPI's, refined) with ``items`` and the components they name."""
    schema.setdefault("paths", {}).update(items)
    schema.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    return schema
