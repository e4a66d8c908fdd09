"""The dashboard's Jinja2 environment: templates from this package, autoescaped, and the
helpers every page may use (formatting, route paths, the CSRF field)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

ENVIRONMENT = Environment(
    loader=PackageLoader("shoptrack.web.admin", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt_time(ms: int | None) -> str:
    """UTC, to the second: every figure of the dashboard is in UTC, and says so."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def fmt_money(value: float | int | None) -> str:
    return fmt_number(value, 2)


def fmt_percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def hidden_field(name: str, value: str) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(name, value)


ENVIRONMENT.globals.update(
    fmt_time=fmt_time,
    fmt_number=fmt_number,
    fmt_money=fmt_money,
    fmt_percent=fmt_percent,
)


def render_template(name: str, context: dict[str, Any]) -> str:
    return ENVIRONMENT.get_template(name).render(context)


__all__ = ["ENVIRONMENT", "escape", "render_template"]
