"""A trigger rule's settings form: posted text to the domain's changes, every field checked.

The domain (``triggers/rules.py``) checks one change after another and stops at the first bad
one; a form should name every bad field at once. So each field is checked alone against the
current settings (the domain's own messages), then all of them together (the rules between
fields, such as a webhook rule needing its URL) only once each is right.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.datastructures import FormData

from shoptrack.errors import ShoptrackError
from shoptrack.triggers.rules import THRESHOLDS, RuleSettings, apply_changes
from shoptrack.web.admin.formdata import checked

TEXT_FIELDS = {"channel": 16, "delay_seconds": 32, "cap_days": 16, "webhook_url": 2000}
TEMPLATE_MAX = 200


def threshold_field(name: str) -> str:
    return f"thresholds.{name}"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_values(settings: RuleSettings) -> dict[str, str]:
    """The form's fields as the current settings fill them (thresholds: "" = the default)."""
    values = {
        "enabled": "on" if settings.enabled else "",
        "channel": settings.channel.value,
        "delay_seconds": str(settings.delay_s),
        "cap_days": str(settings.cap_days),
        "webhook_url": settings.webhook_url or "",
        "template": settings.template or "",
    }
    for name in THRESHOLDS.get(settings.rule, {}):
        stored = settings.thresholds.get(name)
        values[threshold_field(name)] = "" if stored is None else f"{stored:g}"
    return values


def posted_values(settings: RuleSettings, form: FormData) -> dict[str, str]:
    """What the user typed, to show again beside the errors."""
    thresholds = [threshold_field(n) for n in THRESHOLDS.get(settings.rule, {})]
    values = {name: _text(form, name) for name in [*TEXT_FIELDS, "template", *thresholds]}
    values["enabled"] = "on" if checked(form, "enabled") else ""
    return values


def _number(text: str) -> int | float | str:
    """A typed number as the domain takes it (an int when whole); the text when not a number."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def parse_changes(settings: RuleSettings, form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """(changes for ``update_rule``, errors by form field); the changes only when no errors."""
    values = posted_values(settings, form)
    errors: dict[str, str] = {}
    for name, limit in TEXT_FIELDS.items():
        if len(values[name]) > limit:
            errors[name] = f"{name}: at most {limit} characters"
    changes: dict[str, Any] = {
        "enabled": checked(form, "enabled"),
        "channel": values["channel"],
        "delay_seconds": values["delay_seconds"],
        "webhook_url": values["webhook_url"] or None,
        "template": values["template"] or None,
    }
    cap = values["cap_days"]
    if cap.isdigit():
        changes["cap_days"] = int(cap)
    else:
        errors.setdefault("cap_days", "cap_days: expected a whole number of days")
    thresholds: dict[str, Any] = {}
    for name in THRESHOLDS.get(settings.rule, {}):
        text = values[threshold_field(name)]
        # Empty: back to the rule's default, as ``null`` does through the API.
        thresholds[name] = None if text == "" else _number(text)
    changes["thresholds"] = thresholds
    # Each field alone against the settings turned off, so a rule between fields (checked
    # below, with all of them) is not blamed on a field whose partner is being changed too.
    alone = replace(settings, enabled=False)
    for name, value in changes.items():
        if name == "thresholds":
            for threshold, given in value.items():
                _check(alone, {name: {threshold: given}}, errors)
        elif name != "enabled":
            _check(alone, {name: value}, errors)
    if not errors:
        _check(settings, changes, errors)
    return (changes if not errors else {}), errors


def _check(settings: RuleSettings, changes: dict[str, Any], errors: dict[str, str]) -> None:
    try:
        apply_changes(settings, changes)
    except ShoptrackError as exc:
        field = exc.field or next(iter(changes))
        errors.setdefault(field, exc.message)
