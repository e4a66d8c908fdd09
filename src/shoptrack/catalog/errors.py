"""Why an import failed: one code per cause, a message a shop owner can act on, a line."""

from __future__ import annotations

from enum import StrEnum


class FeedErrorCode(StrEnum):
    UNREACHABLE = "unreachable"
    PRIVATE_ADDRESS = "private_address"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    TOO_SLOW = "too_slow"
    TOO_LARGE = "too_large"
    NOT_A_FEED = "not_a_feed"
    UNSUPPORTED_FORMAT = "unsupported_format"
    INVALID_XML = "invalid_xml"
    INVALID_CSV = "invalid_csv"
    FORBIDDEN_DTD = "forbidden_dtd"
    NO_ITEMS = "no_items"
    BUSY = "busy"
    CANCELLED = "cancelled"
    INTERNAL = "internal_error"


class FeedError(Exception):
    """An import that cannot complete; the last good catalogue stays in place."""

    def __init__(self, code: FeedErrorCode, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line

    def to_dict(self) -> dict[str, object]:
        return {"code": str(self.code), "message": self.message, "line": self.line}
