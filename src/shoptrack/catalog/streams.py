"""Byte streams for the parsers: chunks as a file, a size cap and a deadline, a replayed head."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Protocol

from shoptrack.catalog.errors import FeedError, FeedErrorCode

BUFFER_SIZE = 1 << 16


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class ChunkStream(io.RawIOBase):
    """A readable raw stream over an iterator of byte chunks (an HTTP body)."""

    def __init__(self, chunks: Iterator[bytes], head: bytes = b"") -> None:
        self._chunks = chunks
        self._pending = memoryview(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class PrefixedStream(io.RawIOBase):
    """``head`` (already read to sniff the format) followed by the rest of ``rest``."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class LimitedStream(io.RawIOBase):
    """Counts the bytes read through it; refuses more than ``max_bytes`` or past ``deadline``."""

    def __init__(
        self, inner: Readable, max_bytes: int, deadline: float | None, what: str = "feed"
    ) -> None:
        self._inner = inner
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.what = what
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise FeedError(
                FeedErrorCode.TIMEOUT, f"reading the {self.what} took longer than allowed"
            )
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        if self.count > self.max_bytes:
            raise FeedError(
                FeedErrorCode.TOO_LARGE,
                f"the {self.what} is larger than the limit of {self.max_bytes} bytes "
                "(setting SHOPTRACK_FEED_MAX_BYTES)",
            )
        return size


def buffered(raw: io.RawIOBase) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=BUFFER_SIZE)


class MinimumRate:
    """Fails a transfer whose bytes arrive slower than ``min_bytes_per_s``.

    The rate is averaged over ``window_s`` seconds of waiting for the network (time the reader
    spends elsewhere, parsing or writing, is not counted), window after window, so a feed that
    drips a byte now and then, never idle long enough for the read timeout, is given up after
    about one window instead of holding an import thread until the import's deadline.
    """

    def __init__(self, min_bytes_per_s: int, window_s: float) -> None:
        self.min_bytes_per_s = min_bytes_per_s
        self.window_s = window_s
        self._waited_s = 0.0
        self._bytes_before = 0

    def observe(self, total_bytes: int, waited_s: float) -> None:
        """``total_bytes`` received so far, after waiting ``waited_s`` for the latest ones."""
        self._waited_s += waited_s
        if self._waited_s < self.window_s:
            return
        received = total_bytes - self._bytes_before
        if received < self.min_bytes_per_s * self._waited_s:
            raise FeedError(
                FeedErrorCode.TOO_SLOW,
                f"the transfer was slower than {self.min_bytes_per_s} bytes/s: {received} bytes "
                f"in {self._waited_s:.1f} s (setting SHOPTRACK_FEED_MIN_BYTES_PER_S)",
            )
        self._waited_s = 0.0
        self._bytes_before = total_bytes
