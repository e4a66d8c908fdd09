"""Input limits: body size, nesting depth, list length and string length.

Checked once over the parsed body, iteratively (a hostile body must not be able to exhaust the
stack), before any event is read, so every later step can rely on bounded input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from shoptrack.errors import LimitExceeded, Reason, ShoptrackError


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    max_depth: int
    max_list_length: int
    max_string_length: int
    # A batch's top-level ``events`` list has its own limit (answered 413) instead of the list
    # length, so that neither limit hides the other.
    max_events: int | None = None


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing with 413 as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise LimitExceeded(
            Reason.BODY_TOO_LARGE,
            f"the body is {declared} bytes; the limit is {max_bytes}",
            None,
            413,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise LimitExceeded(
                Reason.BODY_TOO_LARGE, f"the body is over the limit of {max_bytes} bytes", None, 413
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ShoptrackError(Reason.INVALID_BODY, "the body is empty; a JSON object is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ShoptrackError(Reason.INVALID_JSON, f"the body is not valid JSON: {exc}") from None


def check_structure(value: Any, limits: Limits) -> None:
    """Raise LimitExceeded naming the first path that is too deep, too long or too large."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limits.max_depth:
                raise LimitExceeded(
                    Reason.TOO_DEEP,
                    f"{path or 'body'} is nested deeper than {limits.max_depth} levels",
                    path or None,
                )
            if len(node) > limits.max_list_length:
                raise LimitExceeded(
                    Reason.LIST_TOO_LONG,
                    f"{path or 'body'} has {len(node)} "
                    f"fields; the limit is {limits.max_list_length}",
                    path or None,
                )
            for key, child in node.items():
                if len(key) > limits.max_string_length:
                    raise LimitExceeded(
                        Reason.STRING_TOO_LONG,
                        f"a field name in {path or 'body'} is too long",
                        path or None,
                    )
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(node, list):
            if path == "events" and limits.max_events is not None:
                if len(node) > limits.max_events:
                    raise LimitExceeded(
                        Reason.TOO_MANY_EVENTS,
                        f"{len(node)} events in one request; the limit is {limits.max_events}",
                        "events",
                        413,
                    )
            elif len(node) > limits.max_list_length:
                raise LimitExceeded(
                    Reason.LIST_TOO_LONG,
                    f"{path or 'body'} has {len(node)} "
                    f"items; the limit is {limits.max_list_length}",
                    path or None,
                )
            if depth > limits.max_depth:
                raise LimitExceeded(
                    Reason.TOO_DEEP,
                    f"{path or 'body'} is nested deeper than {limits.max_depth} levels",
                    path or None,
                )
            for index, child in enumerate(node):
                stack.append((child, f"{path}[{index}]", depth + 1))
        elif isinstance(node, str) and len(node) > limits.max_string_length:
            raise LimitExceeded(
                Reason.STRING_TOO_LONG,
                f"{path or 'body'} is {len(node)} "
                f"characters; the limit is {limits.max_string_length}",
                path or None,
            )
