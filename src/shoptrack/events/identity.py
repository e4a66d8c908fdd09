"""Taking personal data out of event payloads before anything is stored.

Decision: identity fields never stay in the event log's plaintext columns. They are removed
from the payload here and travel beside the event, to be stored only encrypted
(``events.identity_enc``) and used by the identity processor to link the visitor to a contact.
"""

from __future__ import annotations

from typing import Any

# Set (true) by the collector on an identity that came with the site's API key: the shop's
# server said it, not a browser or keyless REST where anyone could have. Set after extraction
# and removed from what payloads send, so a payload cannot set it (identity/signing.py).
API_KEY_MARK = "_api_key"

# Compared lower-cased. Every ``user_*`` key counts too (user_city, user_tags_gender, …).
_IDENTITY_KEYS = frozenset(
    {
        "externalcustomerid",
        "external_customer_id",
        "email",
        "phone",
        "phonenumber",
        "name",
        "first_name",
        "last_name",
        "firstname",
        "lastname",
        "contactid",
    }
)


def is_identity_key(key: str) -> bool:
    lowered = key.lower()
    return lowered.startswith("user_") or lowered in _IDENTITY_KEYS


def _split(obj: dict[str, Any], everything: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    kept: dict[str, Any] = {}
    taken: dict[str, Any] = {}
    for key, value in obj.items():
        if everything or is_identity_key(key):
            if value not in (None, ""):
                taken[key] = value
        else:
            kept[key] = value
    return kept, taken


def extract_identity(payload: Any) -> tuple[dict[str, Any], Any]:
    """Split a payload into (identity fields, payload without them).

    Looks where the spec puts identity: the ``GeneralInfo`` object, the whole
    ``CustomerData`` section, and identity-named keys at the payload's top level.
    """
    if not isinstance(payload, dict):
        return {}, payload
    identity: dict[str, Any] = {}
    redacted: dict[str, Any] = {}
    for key, value in payload.items():
        lowered = key.lower()
        if lowered == "generalinfo" and isinstance(value, dict):
            kept, taken = _split(value, everything=False)
            identity.update(taken)
            redacted[key] = kept
        elif lowered == "customerdata" and isinstance(value, dict):
            _, taken = _split(value, everything=True)
            identity.update(taken)
            redacted[key] = {}
        elif is_identity_key(key):
            if value not in (None, ""):
                identity[key] = value
        else:
            redacted[key] = value
    return identity, redacted


def identity_from_general(general: Any) -> dict[str, Any]:
    """Identity fields of a GeneralInfo object sent outside the payload (the tracker's memory)."""
    if not isinstance(general, dict):
        return {}
    return _split(general, everything=False)[1]
