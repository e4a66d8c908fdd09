"""Google Merchant feeds in RSS 2.0 and Atom 1.0, read as a stream.

An ``lxml.etree.XMLPullParser`` is fed the stream chunk by chunk and builds one item at a
time; each item is cleared and detached once read, so memory stays the size of one item
whatever the feed's size. The pull parser (rather than ``iterparse``) hands over the events it
parsed before a syntax error on every lxml release, so the items before a malformed one are
counted in the report. The parser never resolves entities, loads a DTD or touches the
network, and a DOCTYPE is refused before parsing (``xmlprolog``): Merchant feeds never need
one, and that is where XML bombs ("billion laughs") and external entities (XXE) live.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.fields import Problem, RawItem, attribute_name, field_name
from shoptrack.catalog.xmlprolog import DOCTYPE_REFUSED

GOOGLE_NS = "http://base.google.com/ns/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
_GOOGLE_PREFIX = "{" + GOOGLE_NS + "}"
MAX_FIELDS_PER_ITEM = 1000
CHUNK_BYTES = 1 << 16
# Atom's own elements that carry product fields; its other envelope elements (id, updated,
# author …) describe the entry, not the product, and are not kept.
_ATOM_FIELDS = {"title": "title", "link": "link", "summary": "description", "content": "content"}


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return None, tag


def _value(element: etree._Element) -> str:
    """An element's text; a structured field (g:shipping …) as its parts joined by ':'."""
    if len(element) == 0:
        return element.text or ""
    return ":".join(_value(child).strip() for child in element)


class XmlFeedReader:
    """Iterate :class:`RawItem` (and item-level :class:`Problem`) of an RSS or Atom feed."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.format: str | None = None
        self._item_tag = ""
        self._atom = False
        # Element tag → the raw field name it carries ("" = not a product field); a feed uses
        # a few dozen tags, so this is computed once per tag, not once per element.
        self._names: dict[str, str] = {}

    def _events(self) -> Iterator[tuple[str, Any]]:
        parser = etree.XMLPullParser(
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        while True:
            chunk = self.stream.read(CHUNK_BYTES)
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
            except etree.XMLSyntaxError:
                yield from parser.read_events()  # what was whole before the error
                raise
            yield from parser.read_events()
            if not chunk:
                return

    def __iter__(self) -> Iterator[RawItem | Problem]:
        item: Any = None
        depth = item_depth = fields = 0
        try:
            for event, element in self._events():
                if event == "start":
                    depth += 1
                    if item is not None:
                        if depth == item_depth + 1:
                            fields += 1
                            if fields > MAX_FIELDS_PER_ITEM:
                                raise FeedError(
                                    FeedErrorCode.INVALID_XML,
                                    f"line {item.sourceline}: an item with more than "
                                    f"{MAX_FIELDS_PER_ITEM} fields",
                                    item.sourceline,
                                )
                    elif self.format is None:
                        self._check_root(element)
                    elif element.tag == self._item_tag:
                        item, item_depth, fields = element, depth, 0
                    continue
                depth -= 1
                if item is None:
                    # Outside any item (channel elements …): drop what is done.
                    _drop(element)
                elif element is item:
                    yield self._read_item(element)
                    _drop(element)
                    item = None
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or None
            code = FeedErrorCode.INVALID_XML
            if "entity" in (exc.msg or "").lower():
                code = FeedErrorCode.FORBIDDEN_DTD
            raise FeedError(code, f"not well-formed XML at line {line}: {exc.msg}", line) from None

    def _check_root(self, root: Any) -> None:
        info = root.getroottree().docinfo
        if info.doctype or info.internalDTD is not None or info.system_url or info.public_id:
            # Refused before parsing already (xmlprolog); kept as a second line of defence.
            raise FeedError(FeedErrorCode.FORBIDDEN_DTD, DOCTYPE_REFUSED, 1)
        namespace, local = _split(root.tag)
        if local == "rss" and namespace is None:
            self.format, self._item_tag = "rss", "item"
        elif local == "feed" and namespace in (ATOM_NS, None):
            self.format, self._atom = "atom", True
            self._item_tag = f"{{{namespace}}}entry" if namespace else "entry"
        else:
            hint = " (an HTML page: check the feed's address)" if local.lower() == "html" else ""
            raise FeedError(
                FeedErrorCode.UNSUPPORTED_FORMAT,
                f"root element <{local}> is neither RSS 2.0 <rss> nor Atom <feed>{hint}",
                root.sourceline,
            )

    def _name(self, tag: str) -> str:
        namespace, local = _split(tag)
        if namespace == GOOGLE_NS:
            return field_name(local)
        if self._atom and namespace in (ATOM_NS, None):
            # Atom's own envelope elements (id, updated, author …) are not product fields.
            return _ATOM_FIELDS.get(local, "")
        if namespace is None:
            # RSS's own title / link / description, and fields written without g: prefix.
            return field_name(local)
        return attribute_name(field_name(local))

    def _read_item(self, element: Any) -> RawItem:
        raw = RawItem(line=element.sourceline or 0)
        fields = raw.fields
        names = self._names
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            name = names.get(tag)
            if name is None:
                name = names[tag] = self._name(tag)
            if not name:
                continue
            if name == "link" and self._atom and not tag.startswith(_GOOGLE_PREFIX):
                if child.get("rel", "alternate") != "alternate" or not child.get("href"):
                    continue
                value = child.get("href", "")
            else:
                value = child.text or "" if len(child) == 0 else _value(child)
            values = fields.get(name)
            if values is None:
                fields[name] = [value]
            else:
                values.append(value)
        fallback = fields.pop("content", None)
        if fallback and "description" not in fields:
            fields["description"] = fallback
        return raw


def _drop(element: Any) -> None:
    """Free a finished element and the siblings before it."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
