"""Which parser reads a stream: sniffed from its first bytes, never from a file name.

Gzip (a ``.xml.gz`` file, or a server that sends one without ``Content-Encoding``) is
unpacked on the fly, with the same size cap on the unpacked bytes (a gzip bomb stops there).
A body that starts with ``<`` is XML; JSON and binary data are refused; anything else must
be CSV / TSV with an ``id`` column.
"""

from __future__ import annotations

import gzip
import time
from typing import IO

from shoptrack.catalog.csvfeed import CsvFeedReader
from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.streams import LimitedStream, PrefixedStream, buffered
from shoptrack.catalog.xmlfeed import XmlFeedReader
from shoptrack.catalog.xmlprolog import refuse_doctype

SNIFF_BYTES = 1 << 16
FeedReader = XmlFeedReader | CsvFeedReader


def _read_head(stream: IO[bytes]) -> bytes:
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def open_items(
    stream: IO[bytes], *, max_bytes: int, deadline: float | None = None, depth: int = 0
) -> FeedReader:
    head = _read_head(stream)
    whole: IO[bytes] = buffered(PrefixedStream(head, stream))
    if head.startswith(b"\x1f\x8b") and depth == 0:
        unpacked = gzip.GzipFile(fileobj=whole, mode="rb")
        limited = buffered(LimitedStream(unpacked, max_bytes, deadline, "unpacked feed"))
        return open_items(limited, max_bytes=max_bytes, deadline=deadline, depth=1)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise FeedError(FeedErrorCode.NOT_A_FEED, "the feed is empty")
    if text.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00<")):
        refuse_doctype(head, complete=len(head) < SNIFF_BYTES)
        return XmlFeedReader(whole)
    if text[:1] in (b"{", b"["):
        raise FeedError(FeedErrorCode.NOT_A_FEED, "this is JSON, not an XML or CSV feed", 1)
    if b"\x00" in head:
        raise FeedError(FeedErrorCode.NOT_A_FEED, "binary data, not an XML or CSV feed", 1)
    first_line = head.split(b"\n", 1)[0]
    return CsvFeedReader(whole, first_line)


def deadline_after(seconds: float | None) -> float | None:
    return time.monotonic() + seconds if seconds else None
