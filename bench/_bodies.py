"""Request bodies for the ingestion benches: what a shop's pages send, with fresh event ids.

Shared by ``ingest.py`` (closed and open loop), ``ingest_budget.py`` and
``ingest_instructions.py``, so that every bench measures the same bodies.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

HOST = "127.0.0.1"
EVENT_PATH = "/webevent"
BATCH_SIZE = 20
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
_ID_MARK = "@@EVENT-ID@@"


# --- request bodies -----------------------------------------------------------------------
def _event_templates() -> list[dict[str, Any]]:
    """What a shop's pages send, in the shapes of the tracker (tracker/eS.js)."""
    return [
        {
            "style": "sendEvent",
            "name": "ProductPage",
            "payload": {
                "ProductPage": {
                    "productKey": "24-MB02",
                    "price": "754 USD",
                    "isInStock": 1,
                    "tag_color": "black",
                }
            },
        },
        {"style": "sendEvent", "name": "PageView"},
        {
            "style": "sendEvent",
            "name": "CategoryPage",
            "payload": {"CategoryPage": {"Category": {"categoryKey": "bags"}}},
        },
        {
            "style": "sendEventWithTags",
            "name": "StatusCart",
            "payload": {
                "StatusCart": {
                    "GUID": "cart-0001",
                    "Products": [
                        {"productKey": "24-MB02", "price": 59.0, "quantity": 1},
                        {"productKey": "24-WB04", "price": "32.50", "quantity": 2},
                    ],
                },
                "Tags": {"campaign": ["spring"]},
            },
        },
        {
            "style": "sendEvent",
            "name": "SearchRequest",
            "payload": {"SearchRequest": {"search": "leather bag", "isFound": 1}},
        },
        {
            "style": "sendEvent",
            "name": "ProductImpression",
            "payload": {
                "ProductImpression": {
                    "Products": [
                        {"product_id": "24-MB01", "container_type": "recs-home"},
                        {"product_id": "24-MB03", "container_type": "recs-home"},
                        {"product_id": "24-MB04", "container_type": "recs-home"},
                    ]
                }
            },
        },
    ]


class BodyMaker:
    """Request bodies with fresh event ids, built by joining pre-rendered parts (cheap)."""

    def __init__(self, site_id: str, events_per_request: int, connection: int) -> None:
        now = int(time.time() * 1000)
        templates = _event_templates()
        events = []
        for index in range(events_per_request):
            event = dict(templates[index % len(templates)])
            event["id"] = _ID_MARK
            event["time"] = now
            events.append(event)
        body = {
            "v": 1,
            "site_id": site_id,
            "visitor_id": f"bench-visitor-{connection}",
            "session_id": f"bench-session-{connection}",
            "sent_at": now,
            "page": {
                "url": "https://shop.example/bags/24-MB02.html?sc_content=recs-home",
                "referrer": "https://shop.example/bags.html",
                "title": "Joust Duffle Bag",
            },
            "general": {"lang": "en"},
            "dropped": 0,
            "events": events,
        }
        self._parts = orjson.dumps(body).split(_ID_MARK.encode())
        self._prefix = f"b{secrets.token_hex(4)}c{connection}n"
        self._count = 0
        self.events_per_request = events_per_request

    def next(self) -> bytes:
        self._count += 1
        stem = f"{self._prefix}{self._count}e".encode()
        parts = self._parts
        out = [parts[0]]
        for index in range(1, len(parts)):
            out.append(stem + str(index).encode())
            out.append(parts[index])
        return b"".join(out)


def request_head(port: int, content_length: int) -> bytes:
    return (
        f"POST {EVENT_PATH} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Origin: https://shop.example\r\n"
        "Accept: */*\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


def split_response(buffer: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(lower-cased head, body, what follows) of the first whole response in buffer, or None.

    The benched servers always send Content-Length (no chunked answers to a POST here)."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].lower()
    marker = head.find(b"content-length:")
    if marker < 0:
        raise RuntimeError("response without content-length")
    line_end = head.find(b"\r\n", marker)
    length = int(head[marker + 15 : line_end if line_end >= 0 else len(head)])
    end = head_end + 4 + length
    if len(buffer) < end:
        return None
    return head, buffer[head_end + 4 : end], buffer[end:]
