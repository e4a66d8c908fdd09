"""The refusal of DOCTYPE declarations, decided on the bytes before the parser sees them.

A Merchant feed never needs a DTD, and the DTD is where XML bombs ("billion laughs") and
external entities (XXE) live. Leaving the refusal to the parser made its message depend on
libxml2's internals: newer releases stop a bomb for their own amplification limit before any
element is reported, so the feed was refused for the wrong reason. Reading the prolog (the
XML declaration, comments and processing instructions before the root element) ourselves
refuses every DOCTYPE the same way, whatever the parser's version.
"""

from __future__ import annotations

import codecs

from shoptrack.catalog.errors import FeedError, FeedErrorCode

DOCTYPE_REFUSED = (
    "the feed declares a DOCTYPE; DTDs and entities are refused (they are how XML bombs and "
    "external-entity (XXE) attacks work, and a Merchant feed needs none)"
)

# Byte-order marks and the UTF-16 forms of "<" without one; any other encoding a feed may
# declare is ASCII-compatible for the markup characters the prolog consists of.
_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def _as_text(head: bytes) -> str:
    for mark, encoding in _ENCODINGS:
        if head.startswith(mark):
            return head.decode(encoding, errors="replace").lstrip("\ufeff")
    return head.decode("latin-1")


def refuse_doctype(head: bytes, *, complete: bool) -> None:
    """Raise ``FeedError(FORBIDDEN_DTD)`` if the prolog in ``head`` declares a DOCTYPE.

    ``head`` is the start of the document; ``complete`` says it is the whole document. A
    prolog that does not end within an incomplete head is refused too: no real feed has
    64 KiB of comments before its root element, and what follows could be a DOCTYPE.
    """
    text = _as_text(head)
    at = 0
    while True:
        at = len(text) - len(text[at:].lstrip())
        rest = text[at : at + 4]
        if rest.startswith("<?"):
            end = text.find("?>", at + 2)
            closing = 2
        elif rest.startswith("<!--"):
            end = text.find("-->", at + 4)
            closing = 3
        elif rest.startswith("<!"):
            if not complete and len(text) - at < 4:
                break  # cut off between "<!" and what it opens
            raise FeedError(FeedErrorCode.FORBIDDEN_DTD, DOCTYPE_REFUSED, _line(text, at))
        else:
            # The root element, text the parser will refuse, or the end of the document.
            if at >= len(text) and not complete:
                break
            return
        if end < 0:
            break
        at = end + closing
    if complete:
        return  # an unfinished declaration or comment: the parser names the error
    raise FeedError(
        FeedErrorCode.INVALID_XML,
        f"no root element within the first {len(head)} bytes of the feed",
        _line(text, at),
    )


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1
