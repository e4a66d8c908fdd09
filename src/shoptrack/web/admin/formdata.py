"""Reading a posted form's text fields the same way on every page."""

from __future__ import annotations

from starlette.datastructures import FormData

from shoptrack.errors import Reason, ShoptrackError


def form_text(form: FormData, name: str, max_length: int) -> str:
    """The field's text, trimmed; "" when absent. Longer than ``max_length``: refused by name
    (never cut, which could turn a wrong value into another valid one)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if len(value) > max_length:
        raise ShoptrackError(Reason.INVALID_VALUE, f"{name}: at most {max_length} characters", name)
    return value


def checked(form: FormData, name: str) -> bool:
    """Whether a checkbox was ticked (browsers send it only then)."""
    return form.get(name) is not None
