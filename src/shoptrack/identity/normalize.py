"""Normalizing contact data: one spelling per e-mail and phone, so equal people match.

* E-mail: trimmed, lower-cased, the domain in its IDNA (punycode) form via the ``idna``
  package (UTS 46 mapping), so ``Anna@Bücher.DE`` and ``anna@xn--bcher-kva.de`` are one.
* Phone: E.164 via ``phonenumbers`` (Google's libphonenumber metadata); a number without its
  country code is read in the site's default region; digits only without ``+`` and without a
  region are tried as an international number (``380501234567``).
* A value that does not normalize is refused with the field named, never stored half-valid.
  Messages never repeat the value: they end up in clients' logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import idna
import phonenumbers

from shoptrack.errors import Reason, ShoptrackError

MAX_EMAIL = 254
# One ASCII host-name label (letters, digits, hyphens inside): no IDNA work needed.
_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_TEXT = 200
MAX_EXTERNAL_ID = 128
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_VALUE = 1000

# Profile keys (the API's spelling). Identifiers first, in matching order.
PROFILE_KEYS = ("externalCustomerId", "email", "phone", "firstName", "lastName", "city")
_TEXT_KEYS = ("firstName", "lastName", "city")
_API_ALIASES = {
    "externalcustomerid": "externalCustomerId",
    "external_customer_id": "externalCustomerId",
    "email": "email",
    "phone": "phone",
    "firstname": "firstName",
    "first_name": "firstName",
    "lastname": "lastName",
    "last_name": "lastName",
    "city": "city",
    "fields": "fields",
}


def invalid(field_name: str, message: str) -> ShoptrackError:
    return ShoptrackError(Reason.INVALID_VALUE, f"{field_name}: {message}", field_name)


def normalize_email(value: Any, field_name: str = "email") -> str:
    if not isinstance(value, str):
        raise invalid(field_name, "an e-mail address is a string")
    text = value.strip()
    if not text or len(text) > MAX_EMAIL:
        raise invalid(field_name, f"an e-mail address has 3 to {MAX_EMAIL} characters")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise invalid(field_name, "an e-mail address is local-part@domain")
    if len(local) > 64 or "@" in local or any(c.isspace() or ord(c) < 32 for c in local):
        raise invalid(field_name, "the part before '@' is not a valid mailbox name")
    domain = domain.rstrip(".")
    if domain.isascii() and all(_LDH.match(label) for label in domain.lower().split(".")):
        ascii_domain = domain  # plain ASCII host names need no IDNA mapping (the common case)
    else:
        try:
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise invalid(field_name, "the domain is not a valid domain name") from None
    if "." not in ascii_domain:
        raise invalid(field_name, "the domain needs a dot (example.com)")
    return f"{local.lower()}@{ascii_domain.lower()}"


def normalize_phone(value: Any, region: str | None, field_name: str = "phone") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid(field_name, "a phone number is a string")
    text = value.strip()
    if not text or len(text) > 40:
        raise invalid(field_name, "a phone number has 1 to 40 characters")
    attempts: list[tuple[str, str | None]] = []
    if text.startswith("+") or region:
        attempts.append((text, region))
    digits = "".join(c for c in text if c.isdigit())
    if not text.startswith("+") and digits:
        attempts.append(("+" + digits, None))
    for candidate, candidate_region in attempts:
        try:
            number = phonenumbers.parse(candidate, candidate_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    hint = "" if region else " (the site has no default region: include the country code)"
    raise invalid(field_name, f"not a valid phone number{hint}")


def normalize_external_id(value: Any, field_name: str = "externalCustomerId") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise invalid(field_name, "an external customer id is a non-empty string")
    text = value.strip()
    if len(text) > MAX_EXTERNAL_ID:
        raise invalid(field_name, f"at most {MAX_EXTERNAL_ID} characters")
    return text


def normalize_text(value: Any, field_name: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid(field_name, "expected a string")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise invalid(field_name, f"at most {MAX_TEXT} characters")
    return text


def normalize_custom(value: Any, field_name: str = "fields") -> dict[str, Any]:
    """Custom fields: an object of at most 100 names to strings, numbers, booleans or null."""
    if not isinstance(value, dict):
        raise invalid(field_name, "custom fields are an object of names to values")
    if len(value) > MAX_CUSTOM_FIELDS:
        raise invalid(field_name, f"at most {MAX_CUSTOM_FIELDS} custom fields")
    out: dict[str, Any] = {}
    for name, item in value.items():
        path = f"{field_name}.{name}"[:200]
        if not name or len(name) > 100:
            raise invalid(path, "a custom field name has 1 to 100 characters")
        if isinstance(item, str):
            if len(item) > MAX_CUSTOM_VALUE:
                raise invalid(path, f"at most {MAX_CUSTOM_VALUE} characters")
            out[name] = item.strip()
        elif item is None or isinstance(item, bool | int | float):
            out[name] = item
        else:
            raise invalid(path, "a custom field is a string, number, boolean or null")
    return out


@dataclass(slots=True)
class ContactPatch:
    """Normalized changes to one contact: absent keys are left alone, ``None`` clears.

    ``fields`` holds custom fields (a ``None`` value removes that field); ``contact_ref`` is a
    contact id the page already knew (``user_es_contact_id``), used only for matching.
    """

    values: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    contact_ref: str | None = None

    def identifiers(self) -> dict[str, str]:
        return {k: v for k in ("externalCustomerId", "email", "phone") if (v := self.values.get(k))}


def patch_from_api(row: Any, region: str | None) -> ContactPatch:
    """One row of ``POST /api/v1/contacts``, normalized, or ShoptrackError naming the field."""
    if not isinstance(row, dict):
        raise ShoptrackError(Reason.INVALID_BODY, "a contact is a JSON object")
    patch = ContactPatch()
    for raw_key, value in row.items():
        key = _API_ALIASES.get(raw_key.lower()) if isinstance(raw_key, str) else None
        if key is None:
            raise invalid(str(raw_key)[:60], f"unknown field; known: {', '.join(_API_FIELDS)}")
        if key == "fields":
            if value is not None:
                patch.fields.update(normalize_custom(value, raw_key))
            continue
        if value is None or value == "":
            if key in ("externalCustomerId",):
                continue  # an id is never cleared by omission
            patch.values[key] = None
        elif key == "email":
            patch.values[key] = normalize_email(value, raw_key)
        elif key == "phone":
            patch.values[key] = normalize_phone(value, region, raw_key)
        elif key == "externalCustomerId":
            patch.values[key] = normalize_external_id(value, raw_key)
        else:
            patch.values[key] = normalize_text(value, raw_key) or None
    if not patch.identifiers():
        raise ShoptrackError(
            Reason.MISSING_FIELD,
            "a contact needs externalCustomerId, email or phone",
            "externalCustomerId",
        )
    return patch


_API_FIELDS = ("externalCustomerId", "email", "phone", "firstName", "lastName", "city", "fields")

# Event identity keys (compared lower-cased) → profile keys.
_EVENT_KEYS = {
    "externalcustomerid": "externalCustomerId",
    "external_customer_id": "externalCustomerId",
    "user_external_customer_id": "externalCustomerId",
    "user_email": "email",
    "email": "email",
    "user_phone": "phone",
    "phone": "phone",
    "phonenumber": "phone",
    "user_name": "firstName",
    "user_first_name": "firstName",
    "user_firstname": "firstName",
    "first_name": "firstName",
    "firstname": "firstName",
    "name": "firstName",
    "user_last_name": "lastName",
    "user_lastname": "lastName",
    "user_surname": "lastName",
    "last_name": "lastName",
    "lastname": "lastName",
    "user_city": "city",
}
_EVENT_REFS = ("user_es_contact_id", "contactid", "user_contact_id")


def patch_from_event(identity: dict[str, Any], region: str | None) -> ContactPatch:
    """The identity fields an event carried, leniently: an invalid value is left out."""
    patch = ContactPatch()
    for raw_key, value in identity.items():
        lowered = raw_key.lower()
        if value is None or value == "":
            continue
        if lowered in _EVENT_REFS:
            if isinstance(value, str | int) and not isinstance(value, bool):
                patch.contact_ref = str(value).strip()[:64] or None
            continue
        key = _EVENT_KEYS.get(lowered)
        try:
            if key == "email":
                patch.values[key] = normalize_email(value)
            elif key == "phone":
                patch.values[key] = normalize_phone(value, region)
            elif key == "externalCustomerId":
                patch.values[key] = normalize_external_id(value)
            elif key is not None:
                if key not in patch.values:
                    patch.values[key] = normalize_text(value, key) or None
            elif lowered.startswith("user_") and len(patch.fields) < MAX_CUSTOM_FIELDS:
                name = lowered[len("user_") :][:100]
                if isinstance(value, bool | int | float):
                    patch.fields[name] = value
                elif isinstance(value, str):
                    patch.fields[name] = value.strip()[:MAX_CUSTOM_VALUE]
        except ShoptrackError:
            continue
    return patch


_IDENTIFIER_KINDS = frozenset({"email", "phone", "externalCustomerId"})


def is_identifier_key(raw_key: str) -> bool:
    """Whether an event identity key names the person (matches or links a contact): e-mail,
    phone, external customer id, or a contact id the page knew. Names, cities and custom
    ``user_*`` fields describe a contact but never pick one."""
    lowered = raw_key.lower()
    return lowered in _EVENT_REFS or _EVENT_KEYS.get(lowered) in _IDENTIFIER_KINDS
