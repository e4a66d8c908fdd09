"""A segment's editor as a page holds it between posts: the name, the builder form or the
JSON text (the "advanced" view), and what the last action found (an error, a preview).

Every button of the editor posts the whole form with an ``action``: ``add`` (a row of the
kind chosen in ``new_condition``), ``remove-<row>``, ``json`` / ``form`` (switch views),
``preview``, or ``save`` (the default, also when no button named one). Nothing but ``save``
changes what is stored, so the form works without any script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import FormData

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.segments.definition import MAX_CONDITIONS, as_json, parse_definition
from shoptrack.web.admin.segment_form import (
    Builder,
    builder_from_form,
    builder_of,
    definition_of,
    new_row,
    place_error,
)
from shoptrack.web.admin.segment_kinds import BY_CONDITION

MAX_NAME = 200
MAX_JSON = 20_000
TOO_DEEP_FOR_THE_FORM = (
    "The form shows conditions combined by one ALL or ANY, each possibly negated; this "
    "definition goes further, so it stays in the JSON editor."
)


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@dataclass
class Editor:
    name: str = ""
    mode: str = "form"  # "form" or "json"
    builder: Builder = field(default_factory=Builder)
    text: str = ""  # the JSON editor's text
    webhook_url: str = ""
    error: str | None = None
    error_field: str | None = None
    preview: dict[str, Any] | None = None

    def fail(self, exc: ShoptrackError) -> None:
        """Shows an error at the field it names: a row of the form when it is about the
        definition and the form is shown."""
        self.error, self.error_field = exc.message, exc.field
        if self.mode == "form" and (exc.field or "").startswith("definition"):
            place_error(self.builder, exc.field, exc.message)


def editor_for(name: str, definition: Any, webhook_url: str | None = None) -> Editor:
    """The editor of a stored definition: the form when it can show it, else the JSON."""
    builder = builder_of(definition)
    return Editor(
        name=name,
        mode="form" if builder is not None else "json",
        builder=builder or Builder(),
        text=pretty(definition),
        webhook_url=webhook_url or "",
    )


def editor_from_form(form: FormData) -> Editor:
    """The editor as posted. A post without ``editor`` but with ``definition`` is the JSON
    view (as the API's clients and the earlier page post it)."""
    posted = form.get("editor")
    mode = posted if posted in ("form", "json") else ("json" if "definition" in form else "form")
    text = form.get("definition")
    name = form.get("name")
    webhook = form.get("webhook_url")
    return Editor(
        name=name.strip()[:MAX_NAME] if isinstance(name, str) else "",
        mode=mode,
        builder=builder_from_form(form) if mode == "form" else Builder(),
        text=text[:MAX_JSON] if isinstance(text, str) else "",
        webhook_url=webhook.strip() if isinstance(webhook, str) else "",
    )


def parse_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        message = f"definition: not valid JSON ({exc})"
        raise ShoptrackError(Reason.INVALID_JSON, message, "definition") from None


def definition(editor: Editor) -> Any:
    """What the editor defines (unchecked: the service checks it)."""
    if editor.mode == "json":
        return parse_json(editor.text)
    if not editor.builder.rows:
        raise ShoptrackError(
            Reason.INVALID_VALUE, "definition: add at least one condition", "definition"
        )
    return definition_of(editor.builder)


def rearrange(editor: Editor, action: str, form: FormData) -> bool:
    """Applies an action that only changes the editor (add, remove, switch views); ``False``
    when ``action`` is not one of those."""
    if action == "add":
        condition = form.get("new_condition")
        room = len(editor.builder.rows) < MAX_CONDITIONS
        if room and isinstance(condition, str) and condition in BY_CONDITION:
            editor.builder.rows.append(new_row(condition))
        return True
    if action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        if index < len(editor.builder.rows):
            del editor.builder.rows[index]
        return True
    if action == "json":
        if editor.builder.rows:
            editor.text = pretty(definition_of(editor.builder))
        editor.mode = "json"
        return True
    if action == "form":
        _to_form(editor)
        return True
    return False


def _to_form(editor: Editor) -> None:
    try:
        checked = as_json(parse_definition(parse_json(editor.text)))
    except ShoptrackError as exc:
        editor.fail(exc)
        return
    builder = builder_of(checked)
    if builder is None:
        editor.error, editor.error_field = TOO_DEEP_FOR_THE_FORM, "definition"
        return
    editor.mode, editor.builder = "form", builder
