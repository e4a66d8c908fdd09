"""A trigger e-mail's subject, text and HTML, from the rule's Jinja2 templates.

Templates are package data (``triggers/templates/``): ``base.html`` / ``base.txt`` hold the
layout (a 600 px table layout, the one most mail clients render alike, Outlook included),
``<rule>.html`` / ``<rule>.txt`` the words; the ``subject`` block of the text template is the
subject line. Product names, queries and site names are whatever a shop or a visitor sent, so
HTML templates autoescape, and the environment is Jinja's sandbox (templates cannot reach
Python internals: the same stays true when sites bring their own). The HTML's ``<style>`` is
inlined into ``style`` attributes by css-inline (Gmail and Outlook drop or ignore much of a
``<style>`` block); ``@media`` rules stay in the head for clients that read them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import css_inline
from jinja2 import PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from shoptrack.triggers.model import OutgoingMessage

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
_SPACE = re.compile(r"\s+")
MAX_SUBJECT = 200


class UnknownTemplate(Exception):
    """The message names a template that is not there."""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def money(value: float | None, currency: str | None = None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} {currency or ''}".strip()


def one_line(value: str, limit: int = MAX_SUBJECT) -> str:
    """Whitespace (line breaks included: header injection) collapsed, length bounded."""
    return _SPACE.sub(" ", value).strip()[:limit]


class EmailRenderer:
    def __init__(self) -> None:
        self.environment = SandboxedEnvironment(
            loader=PackageLoader("shoptrack.triggers", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["money"] = money

    @cached_property
    def inliner(self) -> css_inline.CSSInliner:
        # Never fetch a stylesheet named by a template: sending must not reach the network.
        return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

    def render(self, message: OutgoingMessage) -> RenderedEmail:
        name = message.template or message.rule.value
        if not _TEMPLATE_NAME.match(name):
            raise UnknownTemplate(f"template names are [a-z0-9_-]: {name!r}")
        try:
            html_template = self.environment.get_template(f"{name}.html")
            text_template = self.environment.get_template(f"{name}.txt")
        except TemplateNotFound:
            raise UnknownTemplate(f"no template {name!r}") from None
        context = self._context(message)
        subject_block = text_template.blocks["subject"]
        subject = "".join(subject_block(text_template.new_context(context)))
        html = self.inliner.inline(html_template.render(context))
        text = text_template.render(context)
        return RenderedEmail(one_line(subject), text.strip() + "\n", html)

    @staticmethod
    def _context(message: OutgoingMessage) -> dict[str, Any]:
        return {
            "site_name": message.site_name,
            "rule": message.rule.value,
            "products": [asdict(p) for p in message.products],
            "recommendations": [asdict(p) for p in message.recommendations],
            "unsubscribe_url": message.unsubscribe_url,
            "extra": dict(message.extra),
        }
