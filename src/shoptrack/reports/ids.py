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
