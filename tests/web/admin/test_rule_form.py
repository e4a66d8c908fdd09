"""The rule form: posted text → the domain's changes, every bad field named at once."""

from __future__ import annotations

from starlette.datastructures import FormData

from shoptrack.triggers.model import Channel, Rule
from shoptrack.triggers.rules import RuleSettings, apply_changes
from shoptrack.web.admin.rule_form import form_values, parse_changes, posted_values


def post(**fields: str) -> FormData:
    return FormData(list(fields.items()))


def filled(settings: RuleSettings, **changes: str) -> FormData:
    values = {k: v for k, v in form_values(settings).items() if k != "enabled"}
    if settings.enabled:
        values["enabled"] = "on"
    values.update(changes)
    if not values.get("enabled"):  # browsers send a checkbox only when ticked
        values.pop("enabled", None)
    return post(**values)


def test_the_current_settings_posted_back_change_nothing() -> None:
    wishlist = RuleSettings(Rule.WISHLIST, enabled=True, thresholds={"window_days": 10})
    changes, errors = parse_changes(wishlist, filled(wishlist))
    assert errors == {}
    assert apply_changes(wishlist, changes) == wishlist


def test_values_are_parsed_as_the_api_takes_them() -> None:
    cart = RuleSettings(Rule.ABANDONED_CART)
    form = filled(cart, enabled="on", delay_seconds="30m", cap_days="3")
    changes, errors = parse_changes(cart, form)
    assert errors == {}
    updated = apply_changes(cart, changes)
    assert (updated.enabled, updated.delay_s, updated.cap_days) == (True, 1800, 3)
    # An unticked box is "off"; an emptied threshold is back to its default.
    drop = RuleSettings(Rule.PRICE_DROP, enabled=True, thresholds={"min_drop_percent": 20.0})
    changes, errors = parse_changes(
        drop, filled(drop, enabled="", **{"thresholds.min_drop_percent": ""})
    )
    assert errors == {}
    updated = apply_changes(drop, changes)
    assert updated.enabled is False and updated.thresholds == {}
    changes, _ = parse_changes(drop, filled(drop, **{"thresholds.min_drop_percent": "7.5"}))
    assert apply_changes(drop, changes).thresholds == {"min_drop_percent": 7.5}


def test_every_bad_field_is_named_with_the_domains_message() -> None:
    wishlist = RuleSettings(Rule.WISHLIST)
    form = filled(
        wishlist,
        delay_seconds="10s",
        cap_days="two",
        channel="sms",
        webhook_url="ftp://x",
        **{"thresholds.window_days": "0", "thresholds.min_drop_percent": "lots"},
    )
    changes, errors = parse_changes(wishlist, form)
    assert changes == {}
    assert set(errors) == {
        "delay_seconds",
        "cap_days",
        "channel",
        "webhook_url",
        "thresholds.window_days",
        "thresholds.min_drop_percent",
    }
    assert errors["delay_seconds"].startswith("delay_seconds: must be between 60 s")
    assert errors["thresholds.window_days"] == "thresholds.window_days: must be between 1 and 365"
    assert posted_values(wishlist, form)["cap_days"] == "two"


def test_a_rule_between_fields_is_checked_with_all_of_them() -> None:
    cart = RuleSettings(Rule.ABANDONED_CART, enabled=True)
    # Switching to webhook with its address in the same post is fine…
    changes, errors = parse_changes(
        cart, filled(cart, channel="webhook", webhook_url="https://hooks.example/x")
    )
    assert errors == {} and apply_changes(cart, changes).channel is Channel.WEBHOOK
    # …without one, the address is the field at fault.
    _, errors = parse_changes(cart, filled(cart, channel="webhook"))
    assert list(errors) == ["webhook_url"]
