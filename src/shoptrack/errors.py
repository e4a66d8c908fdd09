"""One error hierarchy, rendered by one handler as ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Machine-readable reasons, stored with every rejected event."""

    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_EVENT = "unknown_event"
    UNKNOWN_SITE = "unknown_site"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_EVENTS = "too_many_events"
    TOO_DEEP = "too_deep"
    LIST_TOO_LONG = "list_too_long"
    STRING_TOO_LONG = "string_too_long"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    KEY_MISSING = "key_missing"
    INTERNAL = "internal"


class ShoptrackError(Exception):
    """An expected failure with an HTTP status, a reason code and, where known, the field."""

    status = 400

    def __init__(self, code: Reason, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        # The bytes of a refused request body, kept with the rejection when there are any.
        self.kept_body: bytes = b""
        # The collector's step that refused an event or body ("limits", "normalize" …), kept
        # with the rejection; empty outside ingestion.
        self.step = ""

    def at_step(self, step: str) -> ShoptrackError:
        """Name the refusing step, unless a finer one already did."""
        if not self.step:
            self.step = step
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "field": self.field}


class EventRejected(ShoptrackError):
    """One event failed validation; the rest of its batch may still be stored."""


class LimitExceeded(ShoptrackError):
    """A configured input limit was passed."""

    def __init__(self, code: Reason, message: str, field: str | None = None, status: int = 400):
        super().__init__(code, message, field)
        self.status = status


class Unauthorized(ShoptrackError):
    status = 401

    def __init__(self, message: str = "a valid API key is required") -> None:
        super().__init__(Reason.UNAUTHORIZED, message, "Authorization")


class Forbidden(ShoptrackError):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(Reason.FORBIDDEN, message, "Authorization")


class Unavailable(ShoptrackError):
    """The store could not commit, or the work waited for did not happen in time: nothing was
    acknowledged or done, the client should retry."""

    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(Reason.UNAVAILABLE, message, None)


class NotFound(ShoptrackError):
    status = 404

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(Reason.NOT_FOUND, message, field)


class MethodNotAllowed(ShoptrackError):
    status = 405

    def __init__(self, message: str) -> None:
        super().__init__(Reason.METHOD_NOT_ALLOWED, message, None)


class Conflict(ShoptrackError):
    """The request cannot be done in the resource's present state; it may succeed later."""

    status = 409

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(Reason.CONFLICT, message, field)


class KeyMissing(ShoptrackError):
    """Stored data cannot be decrypted: its key is not in the key file (or it is damaged).

    503: the server lacks what it needs, and restoring the key file mends it.
    """

    status = 503

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(Reason.KEY_MISSING, message, field)
