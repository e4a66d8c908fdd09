"""Rejected events: what the collector refused, why, where, and the body as it was sent.

The place a shop's developer fixes an integration: each refusal names its reason code, the
collector step and the field at fault, and shows the body decrypted (it may hold personal
data, which is why it is kept encrypted and shown only to a signed-in user of the site).
Filtered by code and step (GET, no personal data in them), paged by a ``before`` cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import Response

from shoptrack.collector.rejected_pages import KNOWN_STEPS, RejectedFilter, rejected_page
from shoptrack.errors import Reason
from shoptrack.web.admin.events import cursor_param, text_param
from shoptrack.web.admin.pages import SitePage, render

router = APIRouter()

PAGE_SIZE = 50
CODES = tuple(r.value for r in Reason)


@dataclass(frozen=True, slots=True)
class RejectedQuery:
    code: str
    step: str
    before: int | None

    @classmethod
    def from_params(cls, params: QueryParams) -> RejectedQuery:
        return cls(
            code=text_param(params, "code", 32),
            step=text_param(params, "step", 32),
            before=cursor_param(params.get("before")),
        )

    def link(self, base: str, **changes: Any) -> str:
        values = {"code": self.code, "step": self.step, "before": self.before, **changes}
        query = urlencode({k: v for k, v in values.items() if v not in ("", None)})
        return f"{base}?{query}" if query else base


@router.get("/admin/sites/{site_id}/rejected", name="admin_rejected")
async def rejected_list(request: Request, ctx: SitePage) -> Response:
    query = RejectedQuery.from_params(request.query_params)
    wanted = RejectedFilter(query.code or None, query.step or None, query.before)
    page = await run_in_threadpool(
        rejected_page, ctx.services.engine, ctx.services.keyring, ctx.site_id, wanted, PAGE_SIZE
    )
    base = request.url.path
    return render(
        request,
        ctx,
        "events/rejected.html",
        {
            "query": query,
            "page": page,
            # Known values first; one seen in a link but not known is still offered.
            "codes": CODES if query.code in ("", *CODES) else (*CODES, query.code),
            "steps": KNOWN_STEPS
            if query.step in ("", *KNOWN_STEPS)
            else (*KNOWN_STEPS, query.step),
            "older_url": query.link(base, before=page.older) if page.older else None,
            "newest_url": query.link(base, before=None) if query.before else None,
        },
    )
