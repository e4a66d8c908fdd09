"""``/docs``: Swagger UI with its assets served from an installed package, never a CDN.

The JavaScript, CSS and icon come from ``fastapi-offline``'s ``static`` folder (see
ARCHITECTURE.md, library choices), mounted at ``/docs/assets``, so the documentation works on
a machine without internet access and tells no third party who reads it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shoptrack.web.index import DOCS_PATH

ASSETS_PATH = f"{DOCS_PATH}/assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# Off: Swagger UI would otherwise send the schema to an online validator.
SWAGGER_PARAMETERS = {"validatorUrl": None, "persistAuthorization": True}


def docs_routes(openapi_path: str, title: str) -> list[BaseRoute]:
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_path}",
            title=f"{title}: API documentation",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    return [
        Route(DOCS_PATH, swagger_ui, methods=["GET"]),
        Mount(ASSETS_PATH, app=StaticFiles(directory=ASSETS_DIR), name="docs-assets"),
    ]
