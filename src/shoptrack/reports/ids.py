"""Block identifiers as they travel in events.

A recommendation's ``container_type`` (in impressions and ``Tags.blockId``) and the link
parameter ``sc_content`` (reported as the event's ``location``) read
``{placementId}_r{blockId}v{variantId}``; the placement part is optional here, so a bare
variant id ``r{blockId}v{variantId}`` is read too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_CONTAINER = re.compile(r"^(?:([A-Za-z0-9-]{0,64})_)?r(\d{1,18})v(\d{1,18})$")


class BlockRef(NamedTuple):
    block_id: str
    variant_id: str


def parse_container(value: object) -> BlockRef | None:
    """The block and variant a ``container_type`` / ``sc_content`` names, or None."""
    if not isinstance(value, str):
        return None
    match = _CONTAINER.match(value.strip())
    if match is None:
        return None
    # Canonical digits ("r07v1" is block 7): the API answers block ids as numbers.
    return BlockRef(str(int(match.group(2))), str(int(match.group(3))))


def variant_name(ref: BlockRef) -> str:
    """``r{block}v{variant}``: the variant id of the platform's API."""
    return f"r{ref.block_id}v{ref.variant_id}"


# A trigger message's links carry ``sc_content=t_<rule>_<message_id>`` (triggers/links.py).
# It lives here, beside the block ids, because the reports read it back and may not import
# the triggers package above them. It never parses as a block id (it does not end in
# ``r<n>v<n>`` after an optional ``[A-Za-z0-9-]`` placement), so block reports ignore it.
TRIGGER_CONTENT_PREFIX = "t_"
_TRIGGER = re.compile(r"^t_([a-z][a-z_]{0,39}?)_([A-Za-z0-9-]{1,64})$")


class TriggerRef(NamedTuple):
    rule: str
    message_id: str


def trigger_content(rule: str, message_id: str) -> str:
    """The ``sc_content`` of a trigger message's links; ValueError for ids it cannot carry."""
    value = f"{TRIGGER_CONTENT_PREFIX}{rule}_{message_id}"
    if parse_trigger_content(value) != TriggerRef(rule, message_id):
        raise ValueError(
            "a trigger message id must be 1-64 letters, digits or '-' (a uuid4 hex is), "
            f"and the rule lower-case: got rule {rule!r}"
        )
    return value


def parse_trigger_content(value: object) -> TriggerRef | None:
    """The rule and message a ``sc_content`` / ``location`` names, or None."""
    if not isinstance(value, str):
        return None
    match = _TRIGGER.match(value.strip())
    if match is None:
        return None
    return TriggerRef(match.group(1), match.group(2))
