"""Parsing of the loosely typed values real shops send: prices, quantities, flags, tags."""

from __future__ import annotations

import math
import re
from typing import Any

from shoptrack.errors import EventRejected, Reason

_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "₴": "UAH", "zł": "PLN", "₽": "RUB"}
_SYMBOLS_PATTERN = "|".join(re.escape(s) for s in _CURRENCY_SYMBOLS)
_PRICE_RE = re.compile(
    rf"^\s*(?P<pre>[A-Za-z]{{3}}|{_SYMBOLS_PATTERN})?\s*"
    r"(?P<num>[+-]?\d[\d\s\u00a0.,']*)\s*"
    rf"(?P<post>[A-Za-z]{{3}}|{_SYMBOLS_PATTERN}|[^\d\s]{{1,4}})?\s*$"
)

_MAX_EXACT_INT = 2**53
_TRUE_STRINGS = frozenset({"1", "true", "yes", "y", "on", "in stock", "instock", "in_stock"})
_FALSE_STRINGS = frozenset(
    {"0", "false", "no", "n", "off", "out of stock", "outofstock", "out_of_stock"}
)


def _invalid(field: str, message: str) -> EventRejected:
    return EventRejected(Reason.INVALID_VALUE, f"{field}: {message}", field)


# Refusals never echo the value: messages are stored in the clear and a value may be an
# e-mail or a phone. They name the field, what was expected, and the value's type and length.
def _described(value: Any) -> str:
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return f"a {type(value).__name__}"


def _signed(text: str) -> bool:
    return text.lstrip()[:1] == "+"


def _unreadable(value: str, expected: str) -> str:
    return f"expected {expected}, got {_described(value)} that is not one"


def _grouped(integer: str, separator: str) -> bool:
    """Whether ``integer`` is digits grouped by ``separator`` in threes: 1,234,567."""
    groups = integer.lstrip("+-").split(separator)
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _number_from_text(text: str) -> float | None:
    """Read '1 234,50', '1,234.50', '1.234,50' or '450.00' as a number.

    A separator is read as a thousands separator only where it groups digits in threes, so
    '15.5.5' or '1,2,3' is refused rather than read as 1555 or 123.
    """
    digits = text.replace(" ", "").replace("\u00a0", "").replace("'", "")
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal = "." if last_dot > last_comma else ","
        thousands = "," if decimal == "." else "."
        integer, _, fraction = digits.rpartition(decimal)
        if not _grouped(integer, thousands) or not fraction.isdigit():
            return None
        digits = integer.replace(thousands, "") + "." + fraction
    elif last_comma >= 0:
        # A lone comma group of three digits is a thousands separator, otherwise a decimal one.
        decimals = len(digits) - last_comma - 1
        if digits.count(",") > 1 or decimals == 3:
            if not _grouped(digits, ","):
                return None
            digits = digits.replace(",", "")
        else:
            digits = digits.replace(",", ".")
    elif digits.count(".") > 1:
        if not _grouped(digits, "."):
            return None
        digits = digits.replace(".", "")
    try:
        return float(digits)
    except ValueError:
        return None


def parse_price(value: Any, field: str) -> tuple[float | None, str | None]:
    """A price as (amount, currency): 201.95, "450.00", "754 USD", "$15", "" (absent)."""
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        raise _invalid(field, "expected a price, got a boolean")
    if isinstance(value, int | float):
        amount = float(value)
        currency = None
    elif isinstance(value, str):
        # A leading "+" is how phones are written, never prices: refused, not read as a
        # number that would keep the phone's digits in the clear.
        match = None if _signed(value) else _PRICE_RE.match(value)
        amount_or_none = _number_from_text(match.group("num")) if match else None
        if match is None or amount_or_none is None:
            raise _invalid(field, _unreadable(value, "a price such as 15.90 or '754 USD'"))
        amount = amount_or_none
        code = match.group("pre") or match.group("post")
        currency = _CURRENCY_SYMBOLS.get(code, code.upper()) if code else None
    else:
        raise _invalid(field, f"expected a number or a string, got {type(value).__name__}")
    if not math.isfinite(amount) or amount < 0:
        raise _invalid(field, "a price must be a finite number of zero or more")
    return round(amount, 6), currency


def parse_quantity(value: Any, field: str) -> float | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _invalid(field, "expected a quantity, got a boolean")
    number: float | None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        number = _number_from_text(text) if text and not _signed(text) else None
        if number is None:
            raise _invalid(field, _unreadable(value, "a quantity such as 1 or 2.5"))
    else:
        raise _invalid(field, f"expected a number or a string, got {type(value).__name__}")
    if not math.isfinite(number) or number < 0:
        raise _invalid(field, "a quantity must be a finite number of zero or more")
    # Whole quantities are ints, but only where a float is exact: a huge "whole" float would
    # become an int too large for JSON.
    return int(number) if number.is_integer() and abs(number) <= _MAX_EXACT_INT else number


def parse_flag(value: Any, field: str) -> bool | None:
    """isInStock / isFound: 1, "1", 0, "0", true, false, "true", "" (absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE_STRINGS:
            return True
        if lowered in _FALSE_STRINGS:
            return False
    raise _invalid(field, f"expected 1, 0, true or false, got {_described(value)}")


def parse_currency(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "expected a currency code such as USD")
    text = value.strip()
    return _CURRENCY_SYMBOLS.get(text, text.upper())


def parse_key(
    value: Any, field: str, *, required: bool, max_length: int | None = None
) -> str | None:
    """Identifiers (productKey, GUID, OrderNumber…) arrive as strings or numbers.

    A blank string counts as absent. ``max_length`` bounds keys that are stored in a column.
    """
    if isinstance(value, bool):
        raise _invalid(field, "expected a string, got a boolean")
    if isinstance(value, int | float) and math.isfinite(value):
        # Numbers become text first, so the length bound below holds for them too (1e300).
        value = str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and "\x00" in value:
        raise _invalid(field, "must not contain NUL characters")
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if max_length is not None and len(text) > max_length:
            raise _invalid(field, f"expected at most {max_length} characters, got {len(text)}")
        return text
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise EventRejected(Reason.MISSING_FIELD, f"{field} is required", field)
        return None
    raise _invalid(field, f"expected a string, got {type(value).__name__}")


def tag_values(value: Any) -> list[str]:
    """A tag's values as a list of strings, whatever shape they came in."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if item is None or isinstance(item, dict | list):
            continue
        if isinstance(item, bool):
            out.append("1" if item else "0")
        elif isinstance(item, float) and item.is_integer():
            out.append(str(int(item)))
        else:
            out.append(str(item))
    return out


def normalize_tags(value: Any, field: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(field, "expected an object of tag name to values")
    return {str(name): tag_values(values) for name, values in value.items()}
