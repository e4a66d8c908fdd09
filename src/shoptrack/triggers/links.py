"""The links of a trigger message: attributed to it, and only ever http(s).

Every product link gets:

* ``sc_content=t_<rule>_<message_id>`` (:func:`shoptrack.reports.ids.trigger_content`): the
  attribution parameter the tracker remembers from the landing URL and repeats on the
  session's later events (as the event's ``location``), so the reports can tie a click and
  the order after it to the message and its rule. It never reads as a recommendation block
  id, so block reports do not count it;
* ``utm_source=shoptrack``, ``utm_medium=email|webhook``, ``utm_campaign=<rule>``: for the
  shop's own analytics.

Existing parameters of the shop's URL are kept; ours replace any of the same name (applying
it twice gives the same link). A link that is not http(s) (``javascript:``, ``data:``, a
relative path) is dropped: the message shows the product without a link.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shoptrack.reports.ids import trigger_content
from shoptrack.triggers.model import Channel, MessageProduct, OutgoingMessage

UTM_SOURCE = "shoptrack"
_OURS = ("sc_content", "utm_source", "utm_medium", "utm_campaign")


def http_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) address with a host, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.strip()


def tracked_link(url: str | None, rule: str, message_id: str, channel: Channel) -> str | None:
    """``url`` with the message's ``sc_content`` and UTM parameters, or None when not http(s)."""
    safe = http_url(url)
    if safe is None:
        return None
    parts = urlsplit(safe)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _OURS]
    ours = [
        ("sc_content", trigger_content(rule, message_id)),
        ("utm_source", UTM_SOURCE),
        ("utm_medium", channel.value),
        ("utm_campaign", rule),
    ]
    return urlunsplit(parts._replace(query=urlencode(kept + ours)))


def with_tracked_links(message: OutgoingMessage) -> OutgoingMessage:
    """The message with every product's and recommendation's link tracked (or dropped)."""

    def track(product: MessageProduct) -> MessageProduct:
        link = tracked_link(product.url, message.rule, message.message_id, message.channel)
        return replace(product, url=link, image_url=http_url(product.image_url))

    return replace(
        message,
        products=tuple(track(p) for p in message.products),
        recommendations=tuple(track(p) for p in message.recommendations),
    )
