"""Each site's rule settings: enabled, channel, delay, frequency cap, webhook URL, template.

A rule with no row has the defaults below. Every rule starts **disabled**: a shop turns a rule
on deliberately (``shoptrack triggers set SITE abandoned_cart --enabled`` or ``PATCH
/api/v1/triggers/abandoned_cart``), because it sends messages to its customers in its name.
``thresholds`` are the rule's own numbers (:data:`THRESHOLDS`: ``window_days`` and
``min_drop_percent`` of ``wishlist``, ``price_drop`` and ``back_in_stock``); a PATCH changes the
names it gives (``null`` puts one back to its default), each checked by name and range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection, select

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.segments.repo import segment_exists
from shoptrack.store.sql import insert_for, now_ms
from shoptrack.store.tables import trigger_rules
from shoptrack.triggers.model import Channel, Rule

DEFAULT_DELAY_S = 3600
DEFAULT_CAP_DAYS = 7
MIN_DELAY_S = 60
MAX_DELAY_S = 30 * 86400
MAX_CAP_DAYS = 365
# The rules the engine evaluates (every rule it knows, today).
EVALUATED = frozenset(Rule)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Threshold:
    """One settable number of a rule: its default and the range it must be in."""

    default: float
    low: float
    high: float
    whole: bool  # a whole number (days), not any number


_WINDOW_30 = Threshold(30, 1, 365, whole=True)
_WINDOW_14 = Threshold(14, 1, 365, whole=True)
_MIN_DROP = Threshold(5, 1, 90, whole=False)
THRESHOLDS: dict[Rule, dict[str, Threshold]] = {
    Rule.WISHLIST: {"window_days": _WINDOW_30, "min_drop_percent": _MIN_DROP},
    Rule.PRICE_DROP: {"window_days": _WINDOW_14, "min_drop_percent": _MIN_DROP},
    Rule.BACK_IN_STOCK: {"window_days": _WINDOW_14},
}


@dataclass(frozen=True, slots=True)
class RuleSettings:
    rule: Rule
    enabled: bool = False
    channel: Channel = Channel.EMAIL
    delay_s: int = DEFAULT_DELAY_S
    cap_days: int = DEFAULT_CAP_DAYS
    webhook_url: str | None = None
    template: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    # Only contacts in this segment are sent the rule's messages (None: everyone).
    segment_id: int | None = None

    @property
    def delay_ms(self) -> int:
        return self.delay_s * 1000

    def threshold(self, name: str) -> float:
        """The rule's ``name`` threshold: the stored value, else its default."""
        spec = THRESHOLDS[self.rule][name]
        value = self.thresholds.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return float(spec.default)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.value,
            "enabled": self.enabled,
            "evaluated": self.rule in EVALUATED,
            "channel": self.channel.value,
            "delay_seconds": self.delay_s,
            "cap_days": self.cap_days,
            "webhook_url": self.webhook_url,
            "template": self.template,
            "thresholds": self.thresholds,
            "segment_id": self.segment_id,
        }


def _invalid(name: str, message: str) -> ShoptrackError:
    return ShoptrackError(Reason.INVALID_VALUE, f"{name}: {message}", name)


def parse_rule(value: str) -> Rule:
    try:
        return Rule(value)
    except ValueError:
        known = ", ".join(r.value for r in Rule)
        raise _invalid("rule", f"{value[:40]!r} is not one of {known}") from None


def parse_duration(value: str | int, name: str = "delay") -> int:
    """Seconds from ``90``, ``60s``, ``30m``, ``2h`` or ``1d``; at least 60 s."""
    if isinstance(value, bool):
        raise _invalid(name, "expected seconds or a duration such as 60s, 30m, 2h")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise _invalid(name, "expected seconds or a duration such as 60s, 30m, 2h")
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not MIN_DELAY_S <= seconds <= MAX_DELAY_S:
        raise _invalid(name, f"must be between {MIN_DELAY_S} s and {MAX_DELAY_S // 86400} days")
    return seconds


def _webhook_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise _invalid("webhook_url", "expected an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("webhook_url", "expected an http(s) URL")
    return value


def _thresholds(current: RuleSettings, value: Any) -> dict[str, Any]:
    """``current.thresholds`` with ``value``'s names changed (``null``: back to the default)."""
    if not isinstance(value, dict):
        raise _invalid("thresholds", "expected an object")
    known = THRESHOLDS.get(current.rule, {})
    out = {k: v for k, v in current.thresholds.items() if k in known}
    for name, given in value.items():
        field_name = f"thresholds.{str(name)[:40]}"
        spec = known.get(name)
        if spec is None:
            names = ", ".join(known) or "none"
            raise _invalid(field_name, f"unknown threshold of {current.rule.value}; known: {names}")
        if given is None:
            out.pop(name, None)
            continue
        number = isinstance(given, int | float) and not isinstance(given, bool)
        if not number or (spec.whole and not float(given).is_integer()):
            kind = "a whole number" if spec.whole else "a number"
            raise _invalid(field_name, f"expected {kind}")
        if not spec.low <= given <= spec.high:
            raise _invalid(field_name, f"must be between {spec.low:g} and {spec.high:g}")
        out[name] = int(given) if spec.whole else float(given)
    return out


def apply_changes(current: RuleSettings, changes: dict[str, Any]) -> RuleSettings:
    """``current`` with ``changes`` (the API's names) applied, each validated by name."""
    updated = current
    for name, value in changes.items():
        if name == "enabled":
            if not isinstance(value, bool):
                raise _invalid(name, "expected true or false")
            updated = replace(updated, enabled=value)
        elif name == "channel":
            try:
                updated = replace(updated, channel=Channel(value))
            except ValueError:
                raise _invalid(name, "expected email or webhook") from None
        elif name in ("delay_seconds", "delay"):
            updated = replace(updated, delay_s=parse_duration(value, name))
        elif name == "cap_days":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _invalid(name, "expected a whole number of days")
            if not 0 <= value <= MAX_CAP_DAYS:
                raise _invalid(name, f"must be between 0 and {MAX_CAP_DAYS}")
            updated = replace(updated, cap_days=value)
        elif name == "webhook_url":
            updated = replace(updated, webhook_url=_webhook_url(value))
        elif name == "template":
            if value is not None and (not isinstance(value, str) or len(value) > 200):
                raise _invalid(name, "expected a template name (at most 200 characters)")
            updated = replace(updated, template=value or None)
        elif name == "thresholds":
            updated = replace(updated, thresholds=_thresholds(updated, value))
        elif name == "segment_id":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise _invalid(name, "expected a segment's number, or null for everyone")
            updated = replace(updated, segment_id=value)
        else:
            known = (
                "enabled, channel, delay_seconds, cap_days, webhook_url, template, thresholds, "
                "segment_id"
            )
            raise _invalid(name, f"unknown setting; known: {known}")
    if updated.enabled and updated.channel is Channel.WEBHOOK and not updated.webhook_url:
        raise _invalid("webhook_url", "a rule sent by webhook needs a webhook_url")
    return updated


def read_rules(conn: Connection, site_id: str) -> dict[Rule, RuleSettings]:
    """Every rule of the site, stored or default, in the rules' order."""
    out = {rule: RuleSettings(rule) for rule in Rule}
    stmt = select(trigger_rules).where(trigger_rules.c.site_id == site_id)
    for row in conn.execute(stmt):
        try:
            rule = Rule(row.rule)
        except ValueError:
            continue  # a rule this version does not know: ignored, kept
        thresholds = orjson.loads(row.thresholds or "{}")
        out[rule] = RuleSettings(
            rule=rule,
            enabled=bool(row.enabled),
            channel=Channel(row.channel),
            delay_s=int(row.delay_s),
            cap_days=int(row.cap_days),
            webhook_url=row.webhook_url,
            template=row.template,
            thresholds=thresholds if isinstance(thresholds, dict) else {},
            segment_id=row.segment_id,
        )
    return out


def enabled_rules(conn: Connection, site_ids: list[str]) -> dict[str, dict[Rule, RuleSettings]]:
    """The enabled rules of each of ``site_ids`` (a site with none is left out)."""
    out: dict[str, dict[Rule, RuleSettings]] = {}
    if not site_ids:
        return out
    stmt = select(trigger_rules.c.site_id).where(
        trigger_rules.c.site_id.in_(site_ids), trigger_rules.c.enabled.is_(True)
    )
    for site_id in sorted({str(s) for s in conn.execute(stmt).scalars()}):
        rules = {r: s for r, s in read_rules(conn, site_id).items() if s.enabled}
        if rules:
            out[site_id] = rules
    return out


def write_rule(conn: Connection, site_id: str, settings: RuleSettings) -> None:
    values = {
        "enabled": settings.enabled,
        "channel": settings.channel.value,
        "delay_s": settings.delay_s,
        "cap_days": settings.cap_days,
        "webhook_url": settings.webhook_url,
        "template": settings.template,
        "thresholds": orjson.dumps(settings.thresholds).decode(),
        "segment_id": settings.segment_id,
        "updated_at": now_ms(),
    }
    stmt = insert_for(conn, trigger_rules).values(
        site_id=site_id, rule=settings.rule.value, **values
    )
    conn.execute(stmt.on_conflict_do_update(index_elements=["site_id", "rule"], set_=values))


def update_rule(
    conn: Connection, site_id: str, rule: Rule, changes: dict[str, Any]
) -> RuleSettings:
    updated = apply_changes(read_rules(conn, site_id)[rule], changes)
    if updated.segment_id is not None and not segment_exists(conn, site_id, updated.segment_id):
        raise _invalid("segment_id", f"no segment {updated.segment_id} on this site")
    write_rule(conn, site_id, updated)
    return updated
