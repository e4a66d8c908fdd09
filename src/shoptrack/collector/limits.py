"""Input limits: body size, nesting depth, list length and string length; storable text.

Checked once over the parsed body, iteratively (a hostile body must not be able to exhaust the
stack), before any event is read, so every later step can rely on bounded input, and on
strings every store can hold: no NUL (PostgreSQL text cannot hold it) and no lone surrogate
(no UTF-8 encoder can write it), in keys and values at any depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Receive

from shoptrack.errors import LimitExceeded, Reason, ShoptrackError


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    max_depth: int
    max_list_length: int
    max_string_length: int
    # A batch's top-level ``events`` list has its own limit (answered 413) instead of the list
    # length, so that neither limit hides the other. Its items' strings are not checked with
    # the body's: the wire adapters check each event, to reject it alone.
    max_events: int | None = None


class ClientDisconnected(Exception):
    """The client went away before its whole body arrived: there is nobody to answer."""


async def read_body(receive: Receive, declared_length: str | None, max_bytes: int) -> bytes:
    """The request body, refusing with 413 as soon as it passes ``max_bytes``.

    Read straight from the ASGI ``receive`` channel (``request.receive`` of a Starlette
    request), so that the ingestion endpoints need no framework request object.
    """
    # ASCII digits only ("²" is a digit to str.isdigit, not to int()), and no huge numbers.
    declared = declared_length or ""
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > max_bytes)
    ):
        raise LimitExceeded(
            Reason.BODY_TOO_LARGE,
            f"the body is {declared[:24]} bytes; the limit is {max_bytes}",
            None,
            413,
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = bytes(message.get("body", b""))  # the same object when it is bytes already
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise LimitExceeded(
                    Reason.BODY_TOO_LARGE,
                    f"the body is over the limit of {max_bytes} bytes",
                    None,
                    413,
                )
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ShoptrackError(Reason.INVALID_BODY, "the body is empty; a JSON object is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ShoptrackError(Reason.INVALID_JSON, f"the body is not valid JSON: {exc}") from None


def check_structure(value: Any, limits: Limits, raw: bytes | None = None) -> None:
    """Raise LimitExceeded naming the first path that is too deep, too long or too large,
    or ShoptrackError naming the first string no store can hold (:func:`check_storable`).

    ``raw``, the bytes ``value`` was parsed from by :func:`parse_json`, lets most bodies pass
    without a walk: this runs for every request. The path-naming walk runs only when a quick
    one finds a problem.
    """
    surely_within = raw is not None and _bytes_rule_out_excess(raw, limits)
    if not surely_within and not _surely_within(value, limits):
        _name_the_excess(value, limits)
    if raw is None or may_hold_unstorable(raw):
        # A batch's events are each the wire adapter's to check (``check_storable`` with the
        # event's path), so that one bad event is rejected alone, not its whole batch.
        check_storable(_envelope_of(value) if limits.max_events is not None else value)


_NUL_ESCAPE = b"\\u0000"


def may_hold_unstorable(raw: bytes) -> bool:
    """Whether a body :func:`parse_json` read from ``raw`` may hold a string no store can hold.

    orjson refuses raw control characters and every lone surrogate, escaped or not, so in a
    body it parsed a NUL can only come from the escape ``\\u0000``: without that escape in the
    bytes there is nothing to walk for (this runs for every request).
    """
    return _NUL_ESCAPE in raw


def _envelope_of(value: Any) -> Any:
    """A batch body without its ``events`` list."""
    if isinstance(value, dict) and isinstance(value.get("events"), list):
        return {key: child for key, child in value.items() if key != "events"}
    return value


# What no store can hold: NUL, and the surrogate code points (alone, they are not text).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored (NUL, a lone surrogate), or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL"
    return "must not contain a lone surrogate (U+D800 to U+DFFF)"


def _path_key(key: str) -> str:
    """A key as it is shown in a path: its NUL and surrogates escaped, so the path is text."""
    if _UNSTORABLE.search(key) is None:
        return key
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def check_storable(value: Any, root: str = "") -> None:
    """Raise ShoptrackError (400) naming the first string, key or value at any depth, that no
    store can hold, e.g. ``ProductUpdate.Products[0].name: must not contain NUL``.

    Walked in document order, iteratively. ``root`` prefixes every path.
    """
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            reason = unstorable_reason(node)
            if reason is not None:
                where = path or "body"
                raise ShoptrackError(Reason.INVALID_VALUE, f"{where}: {reason}", path or None)
        elif isinstance(node, dict):
            children: list[tuple[Any, str]] = []
            for key, child in node.items():
                if not isinstance(key, str):
                    continue
                child_path = f"{path}.{_path_key(key)}" if path else _path_key(key)
                reason = unstorable_reason(key)
                if reason is not None:
                    raise ShoptrackError(
                        Reason.INVALID_VALUE,
                        f"{child_path}: a field name {reason}",
                        child_path,
                    )
                children.append((child, child_path))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend((node[i], f"{path}[{i}]") for i in range(len(node) - 1, -1, -1))


def _list_bound(limits: Limits) -> int:
    """A length no list may pass (the batch's own ``events`` list may pass it, if its limit is
    higher: such a body is then judged by the exact walk)."""
    if limits.max_events is None:
        return limits.max_list_length
    return min(limits.max_list_length, limits.max_events)


def _bytes_rule_out_excess(raw: bytes, limits: Limits) -> bool:
    """Whether the body's bytes alone show that no limit can be passed.

    No decoded string or key is longer than the body; every level of nesting opens with its
    own bracket; every list item or object field after the first follows its own comma. Each
    count includes brackets and commas inside strings, so this may say "not sure", never
    "fine" wrongly.
    """
    return (
        len(raw) <= limits.max_string_length
        and raw.count(b"{") + raw.count(b"[") <= limits.max_depth
        and raw.count(b",") < _list_bound(limits)
    )


def _surely_within(value: Any, limits: Limits) -> bool:
    """A quick walk that builds no paths: True when nothing passes a limit."""
    max_depth, max_string = limits.max_depth, limits.max_string_length
    max_fields, max_items = limits.max_list_length, _list_bound(limits)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        children: Any
        if kind is dict:
            if depth > max_depth or len(node) > max_fields:
                return False
            for key in node:
                if len(key) > max_string:
                    return False
            children = node.values()
        elif kind is list:
            if depth > max_depth or len(node) > max_items:
                return False
            children = node
        else:
            if kind is str and len(node) > max_string:
                return False
            continue
        for child in children:
            child_kind = type(child)
            if child_kind is str:
                if len(child) > max_string:
                    return False
            elif child_kind is dict or child_kind is list:
                stack.append((child, depth + 1))
    return True


def _name_the_excess(value: Any, limits: Limits) -> None:
    """The exact walk: raise LimitExceeded for the first path past a limit, if any."""
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
