"""The dashboard under /admin: server-rendered pages, signed-in users only.

Each area is a module with its ``router``; :data:`ROUTERS` lists them and
:func:`install_admin` puts them, the stylesheet, the error pages and the security headers on
the app.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from shoptrack.web.admin import (
    blocks,
    catalog,
    charts_page,
    contact_page,
    contacts,
    events,
    login,
    overview,
    rejected,
    segments,
    triggers,
)
from shoptrack.web.admin.errors import install_admin_errors
from shoptrack.web.admin.security import ADMIN_PREFIX, AdminHeaders

ROUTERS: tuple[APIRouter, ...] = (login.router, blocks.router)
ROUTERS += (events.router, rejected.router, contacts.router, contact_page.router)
ROUTERS += (overview.router, charts_page.router)
ROUTERS += (catalog.router, triggers.router)
ROUTERS += (segments.router,)


def install_admin(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.router.routes.append(
        Mount(
            ADMIN_PREFIX + "/static",
            app=StaticFiles(packages=[("shoptrack.web.admin", "static")]),
            name="admin_static",
        )
    )
    install_admin_errors(app)
    app.add_middleware(AdminHeaders)
