"""The one scrubber for personal data in what the event log keeps in the clear.

Identity fields the spec names (``user_email``, ``GeneralInfo``…) are taken out of payloads
whole by :mod:`shoptrack.events.identity` and stored only encrypted. Shops put personal data in
many other places too: ``PurchasedItems.email``, a nested ``customer.phone``, ``Tags.email``,
``tag_email`` attributes, ``tel=`` in page URLs, addresses in page titles. Everything stored in
the clear passes these rules:

* **By key, at any depth** (:func:`scrub_payload`): the value under a personal-looking key
  (:func:`personal_placeholder`: e-mail, phone, tel, mobile, names, ``user_*``…, compared
  lower-case without ``_``/``-``, after a ``tag_``/``tags_`` prefix; or a key that is itself an
  e-mail or a phone) becomes a placeholder. The key itself is scrubbed as text.
* **In text** (:func:`scrub_text`): e-mail addresses (also ``%40``-encoded) → ``[email]``;
  phone numbers → ``[phone]``; the value of a personal-looking URL parameter
  (``?tel=0501234567``) → its placeholder.

The phone rule. A number only counts as a phone where it cannot be anything else: it starts
with ``+`` (or ``%2B``) and has 7-15 digits, optionally grouped by spaces, dashes, dots or
parentheses (E.164 as people write it). Prices, quantities, product keys, order numbers,
GUIDs and timestamps carry no leading ``+`` and are left alone. A phone without ``+`` is
caught only under a phone-like key or URL parameter; one in free text ("call 0501234567") is
not, as it cannot be told from an order number. Names in free text (a page title) are
replaced only when the same event carries them as identity fields (:func:`scrub_names`).
"""

from __future__ import annotations

import re
from typing import Any

EMAIL = "[email]"
PHONE = "[phone]"
REMOVED = "[removed]"

# Local part without quotes, backslashes or URL delimiters (RFC 5322 allows quotes, but
# messages and JSON wrap values in them) (so "?email=a@b.c" keeps
# "?email="); "@" or its percent-encoded form; a dotted domain ending in letters.
_EMAIL_RE = re.compile(
    r"(?<!\\)[\w.%+\-!#$*^~]+(?:@|%40)[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_][\w\-]*", re.I
)
# "+" or "%2B", then 7-15 digits (counted in _phone) grouped by spaces, dots, dashes or
# parentheses. Not after a word character: "1e+300" is a number, not a phone.
_PHONE_RE = re.compile(r"(?<![\w+%])(?:\+|%2B)\(?\d[\d\s().\-]{4,24}\d(?!\d)", re.I)
# A URL parameter whose name hints at personal data: its value up to the next delimiter.
_PARAM_RE = re.compile(
    r"([?&;])([\w.\-%]{0,40}?(?:mail|phone|tel|mobile|msisdn|name|user_)[\w.\-%]{0,40})"
    r"=([^&#;\s\"\\]*)",
    re.I,
)

_EMAIL_KEYS = frozenset({"email", "mail", "emailaddress"})
_PHONE_KEYS = frozenset(
    {"phone", "phonenumber", "telephone", "tel", "mobile", "cellphone", "msisdn", "whatsapp"}
)
_OTHER_KEYS = frozenset(
    {
        "firstname",
        "lastname",
        "fullname",
        "middlename",
        "surname",
        "patronymic",
        "customername",
        "contactname",
        "username",
        "address",
        "streetaddress",
        "birthday",
        "birthdate",
        "dateofbirth",
        "externalcustomerid",
        "contactid",
        "escontactid",
    }
)
# Keys are client data: the cache is bounded in count (each key is bounded by the limits).
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_SIZE = 4096


def _classify(key: str) -> str:
    lowered = key.lower()
    if lowered.startswith("tags_"):
        lowered = lowered[5:]
    elif lowered.startswith("tag_"):
        lowered = lowered[4:]
    squeezed = lowered.replace("_", "").replace("-", "").replace(" ", "").replace(".", "")
    if squeezed in _EMAIL_KEYS or squeezed.endswith("email"):
        return EMAIL
    if (
        squeezed in _PHONE_KEYS
        or squeezed.endswith("phone")
        or squeezed.endswith("phonenumber")
        or squeezed.endswith("mobile")
    ):
        return PHONE
    if squeezed in _OTHER_KEYS or lowered.startswith("user_"):
        return REMOVED
    # A key that is itself an e-mail or a phone ({"olena@…": {...}}) holds that person's data.
    if scrub_text(key) != key:
        return REMOVED
    return ""


def personal_placeholder(key: str) -> str:
    """What replaces the value under ``key``, or "" when the key does not look personal."""
    known = _KEY_CACHE.get(key)
    if known is not None:
        return known
    placeholder = _classify(key)
    if len(_KEY_CACHE) < _KEY_CACHE_SIZE:
        _KEY_CACHE[key] = placeholder
    return placeholder


def scrub_payload(value: Any) -> Any:
    """``value`` with whatever sits under a personal-looking key replaced, at any depth.

    Containers are copied only where something changes: the common payload comes back as is.
    """
    if isinstance(value, dict):
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            placeholder = personal_placeholder(key) if isinstance(key, str) else ""
            if placeholder and item is not None and item != "":
                new: Any = placeholder
            else:
                new = scrub_payload(item)
            if new is not item and changed is None:
                changed = dict(value)
            if changed is not None:
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items: list[Any] | None = None
        for index, item in enumerate(value):
            new_item = scrub_payload(item)
            if new_item is not item and items is None:
                items = list(value)
            if items is not None:
                items[index] = new_item
        return value if items is None else items
    return value


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(1 for char in found if char.isdigit())
    if found[0] == "%":
        digits -= 1  # the "2" of "%2B"
    return PHONE if 7 <= digits <= 15 else found


def _param(match: re.Match[str]) -> str:
    placeholder = personal_placeholder(match.group(2))
    if not placeholder or not match.group(3) or match.group(3).startswith("["):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}={placeholder}"


def scrub_text(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers and personal URL parameters replaced.

    Cheap when there is nothing to find: each rule runs only if its marker ("@"/"%40", "+"/
    "%2B", "=") is in the text at all.
    """
    if "=" in text:
        text = _PARAM_RE.sub(_param, text)
    if "@" in text or "%40" in text:
        text = _EMAIL_RE.sub(EMAIL, text)
    if "+" in text or "%2B" in text or "%2b" in text:
        text = _PHONE_RE.sub(_phone, text)
    return text


def scrub_optional(text: str | None) -> str | None:
    return scrub_text(text) if text else text


NAME = "[name]"


def known_names(identity: dict[str, Any]) -> list[str]:
    """The names an event's own identity fields give (``user_name``, ``firstName``…)."""
    return [
        value.strip()
        for key, value in identity.items()
        if isinstance(value, str) and len(value.strip()) >= 2 and "name" in key.lower()
    ]


def scrub_names(text: str | None, names: list[str]) -> str | None:
    """``text`` without the given names (any case). A name in free text cannot be recognised
    by its shape; it can be when the same event says it is the person's name."""
    if not text or not names:
        return text
    for name in names:
        text = re.sub(re.escape(name), NAME, text, flags=re.I)
    return text


def scrub_tree(value: Any) -> Any:
    """``value`` (parsed JSON) with :func:`scrub_text` applied to every string, keys included."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            (scrub_text(key) if isinstance(key, str) else key): scrub_tree(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub_tree(item) for item in value]
    return value
