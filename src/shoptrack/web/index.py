"""``GET /``: what this server is, and where its documentation, health check and dashboard are.

JSON for API clients; a small HTML page when the request prefers ``text/html`` (a browser).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from shoptrack import __version__
from shoptrack.web.responses import json_response

DOCS_PATH = "/docs"
HEALTH_PATH = "/healthz"
DASHBOARD_PATH = "/admin"
DASHBOARD = {
    "path": DASHBOARD_PATH,
    "available": True,
    "note": "sign in; users are made with: shoptrack users create EMAIL",
}

router = APIRouter()


def describe(openapi_path: str) -> dict[str, Any]:
    return {
        "name": "shoptrack",
        "description": "self-hosted e-commerce behaviour tracking",
        "version": __version__,
        "docs": DOCS_PATH,
        "openapi": openapi_path,
        "health": HEALTH_PATH,
        "dashboard": DASHBOARD,
    }


def _prefers_html(request: Request) -> bool:
    """A browser's Accept names text/html; a client naming JSON first gets JSON."""
    accept = request.headers.get("accept", "").lower()
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def _page(info: dict[str, Any]) -> str:
    name, version = escape(str(info["name"])), escape(str(info["version"]))
    links = "".join(
        f'<li>{label}: <a href="{escape(str(info[key]))}">{escape(str(info[key]))}</a></li>'
        for label, key in (
            ("API documentation", "docs"),
            ("OpenAPI schema", "openapi"),
            ("health check", "health"),
        )
    )
    path = escape(DASHBOARD_PATH)
    dashboard = f'<li>dashboard: <a href="{path}">{path}</a></li>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{name} {version}</title></head>\n<body><h1>{name} {version}</h1>"
        f"<p>{escape(str(info['description']))}</p><ul>{links}{dashboard}</ul></body></html>\n"
    )


INDEX_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "What this server is and where its documentation is: JSON, or a small "
        "HTML page when the request prefers text/html",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name", "version", "docs", "openapi", "health"],
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "version": {"type": "string"},
                        "docs": {"type": "string"},
                        "openapi": {"type": "string"},
                        "health": {"type": "string"},
                        "dashboard": {"type": "object"},
                    },
                }
            },
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


# HEAD answers as GET does; one operation in the schema (two would share an operation id).
@router.head("/", include_in_schema=False)
@router.get("/", tags=["server"], responses=INDEX_RESPONSES)
async def index(request: Request) -> Response:
    info = describe(request.app.openapi_url or "")
    if _prefers_html(request):
        return HTMLResponse(_page(info))
    return json_response(info)
