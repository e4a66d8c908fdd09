"""The JSON answers every HTTP entry gives, so all endpoints answer alike.

``json_response`` / ``error_response`` / ``batch_response`` are Starlette responses for the
FastAPI routes; :class:`Reply` is the same answer pre-encoded for the plain-ASGI ingestion
endpoints (``web/ingest.py``), which skip Starlette's response machinery on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send

from shoptrack.collector.service import BatchOutcome
from shoptrack.errors import ShoptrackError


def error_payload(error: ShoptrackError, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.to_dict()}
    if extra:
        body.update(extra)
    return body


def batch_payload(
    outcome: BatchOutcome, extra: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """200 when anything was stored; 400 naming the first problem when nothing was."""
    body = outcome.to_json()
    if extra:
        body.update(extra)
    if outcome.accepted or not outcome.rejected:
        return 200, body
    body["error"] = outcome.rejected[0].error.to_dict()
    return 400, body


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content), status_code=status, media_type="application/json", headers=headers
    )


def error_response(
    error: ShoptrackError,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    if error.status == 503:
        headers = {**(headers or {}), "Retry-After": "1"}
    return json_response(error_payload(error, extra), error.status, headers)


def batch_response(
    outcome: BatchOutcome,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    status, body = batch_payload(outcome, extra)
    return json_response(body, status, headers)


# --- plain ASGI answers ----------------------------------------------------------------------
RawHeaders = tuple[tuple[bytes, bytes], ...]
_JSON_TYPE: RawHeaders = ((b"content-type", b"application/json"),)
_RETRY_AFTER: RawHeaders = ((b"retry-after", b"1"),)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: RawHeaders = ()

    @classmethod
    def json(cls, status: int, content: Any, headers: RawHeaders = ()) -> Reply:
        return cls(status, orjson.dumps(content), _JSON_TYPE + headers)

    @classmethod
    def error(cls, error: ShoptrackError, headers: RawHeaders = ()) -> Reply:
        if error.status == 503:
            headers += _RETRY_AFTER
        return cls.json(error.status, error_payload(error), headers)

    async def send(self, send: Send) -> None:
        # A 204 carries no Content-Length (RFC 9110 §8.6).
        length = () if self.status == 204 else ((b"content-length", str(len(self.body)).encode()),)
        await send(
            {"type": "http.response.start", "status": self.status, "headers": length + self.headers}
        )
        await send({"type": "http.response.body", "body": self.body})
