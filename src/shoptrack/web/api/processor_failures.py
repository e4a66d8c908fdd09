"""``/api/v1/processor-failures``: events of the key's site that a processor could not handle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.store import failures_repo
from shoptrack.web.api.params import MAX_BIGINT
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site

router = APIRouter(prefix="/api/v1", tags=["processor failures"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]


def statuses_of(value: str | None) -> tuple[str, ...]:
    """``status`` as given: one status, ``all``, or by default the open ones."""
    if value is None or value == "":
        return failures_repo.OPEN_STATUSES
    if value == "all":
        return failures_repo.STATUSES
    if value not in failures_repo.STATUSES:
        allowed = ", ".join((*failures_repo.STATUSES, "all"))
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"status: {value[:40]!r} is not one of {allowed}", "status"
        )
    return (value,)


@router.get(
    "/processor-failures",
    summary="Events of the site a processor failed on, newest first",
    description=(
        "A failed event is retried (`retrying`) up to SHOPTRACK_PROCESSOR_MAX_ATTEMPTS times, "
        "then `skipped` until a replay succeeds (`resolved`). By default only retrying and "
        "skipped failures are listed. `reason` is the error's type and message, never values "
        "from the event."
    ),
)
def list_failures(
    request: Request,
    site_id: SiteId,
    status: Annotated[str | None, Query(description="retrying, skipped, resolved or all")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_BIGINT, description="cursor from next_before")
    ] = None,
) -> dict[str, Any]:
    statuses = statuses_of(status)
    with request.app.state.services.engine.connect() as conn:
        failures = failures_repo.list_failures(
            conn, site_id=site_id, statuses=statuses, before=before, limit=limit
        )
    next_before = failures[-1].failure_id if len(failures) == limit else None
    return {"failures": [f.as_json() for f in failures], "next_before": next_before}


@router.post(
    "/processor-failures/replay",
    summary="Run the site's skipped events through their processors again",
    description=(
        "Each skipped event gets one more attempt: `resolved` when it succeeds, otherwise "
        "`skipped` again with one more attempt counted. A server that runs no processors "
        "(SHOPTRACK_RUN_PROCESSORS=false) sets them `retrying` for the workers instead."
    ),
)
async def replay_failures(request: Request, site_id: SiteId) -> dict[str, Any]:
    services = request.app.state.services
    runner = services.runner
    # A server that runs no processors (separate workers do) only hands them back the events.
    replay = runner.replay if services.settings.run_processors else runner.requeue
    failures = await run_in_threadpool(replay, site_id)
    return {"failures": [f.as_json() for f in failures]}
