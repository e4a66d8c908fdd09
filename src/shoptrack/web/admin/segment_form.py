"""The segment builder's form and the definition it stands for, both ways.

The form shows a definition of one level: condition rows, each optionally negated (NOT),
combined with ALL or ANY (``{"all": [leaf, {"not": leaf}]}``; a single row is the bare leaf).
Fields are named ``c<row>.<path>`` (``c1.count.op``), plus ``c<row>.condition`` and
``c<row>.not``. Deeper trees, and leaves with fields the kinds table does not know, are not
forced into it: :func:`builder_of` answers ``None`` and the page opens the JSON editor.

Typed text goes into the definition as typed (a number when it reads as one): the schema's
validation is the only judge, and its error path (``definition.match.all.1.not.count.value``)
is mapped back to the row and field by :func:`place_error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from shoptrack.segments.definition import MAX_CONDITIONS
from shoptrack.web.admin.segment_kinds import BY_CONDITION, Kind

COMBINES = ("all", "any")
MAX_TEXT = 255
_ROW_PATH = re.compile(r"^definition\.match(?:\.(all|any)\.(\d+))?(?:\.not)?(?:\.(.+))?$")


@dataclass
class Row:
    condition: str
    negated: bool = False
    values: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # about the row as a whole
    errors: dict[str, str] = field(default_factory=dict)  # by input path

    @property
    def kind(self) -> Kind:
        return BY_CONDITION[self.condition]


@dataclass
class Builder:
    combine: str = "all"
    rows: list[Row] = field(default_factory=list)
    error: str | None = None  # about the whole definition


def new_row(condition: str) -> Row:
    """A row of ``condition`` with its kind's starting values."""
    kind = BY_CONDITION[condition]
    return Row(condition, values={i.path: i.default for i in kind.inputs})


def _text(value: Any) -> str:
    """A JSON value as a field shows it: whole numbers without ``.0``, floats exactly."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update(_flatten(item, f"{prefix}{key}."))
        elif item is not None:
            flat[f"{prefix}{key}"] = item
    return flat


def _row_of(node: Any) -> Row | None:
    negated = isinstance(node, dict) and set(node) == {"not"}
    leaf = node["not"] if negated else node
    if not isinstance(leaf, dict) or leaf.get("condition") not in BY_CONDITION:
        return None
    kind = BY_CONDITION[leaf["condition"]]
    flat = _flatten({k: v for k, v in leaf.items() if k != "condition"})
    known = {i.path for i in kind.inputs}
    if not set(flat) <= known:
        return None  # a field the form cannot show: the JSON editor keeps it
    values = {path: _text(flat.get(path)) for path in known}
    return Row(kind.condition, negated, values)


def builder_of(definition: Any) -> Builder | None:
    """The form for a definition (as stored: ``segments.definition.as_json``), or ``None``
    when the form cannot show it without losing something."""
    if not isinstance(definition, dict) or not isinstance(definition.get("match"), dict):
        return None
    match = definition["match"]
    combine, nodes = "all", [match]
    for name in COMBINES:
        if set(match) == {name} and isinstance(match[name], list):
            combine, nodes = name, match[name]
    rows = [_row_of(node) for node in nodes]
    if not rows or any(row is None for row in rows):
        return None
    return Builder(combine, [row for row in rows if row is not None])


def _posted(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def builder_from_form(form: FormData) -> Builder:
    """The builder as posted; rows of an unknown kind are left out."""
    combine = _posted(form, "combine")
    builder = Builder(combine if combine in COMBINES else "all")
    count = _posted(form, "rows")
    for index in range(min(int(count) if count.isdigit() else 0, MAX_CONDITIONS)):
        prefix = f"c{index}."
        condition = _posted(form, prefix + "condition")
        if condition not in BY_CONDITION:
            continue
        kind = BY_CONDITION[condition]
        values = {i.path: _posted(form, prefix + i.path) for i in kind.inputs}
        builder.rows.append(Row(condition, form.get(prefix + "not") is not None, values))
    return builder


def _typed(text: str, input_type: str) -> Any:
    """A number field's text as a number when it reads as one (else the text itself, which
    the schema then refuses by its path)."""
    if input_type != "number":
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def _leaf(row: Row) -> dict[str, Any]:
    leaf: dict[str, Any] = {"condition": row.condition}
    for spec in row.kind.inputs:
        text = row.values.get(spec.path, "")
        if text == "":
            continue  # the schema's default, or nothing
        target = leaf
        *parents, last = spec.path.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = _typed(text, spec.type)
    return leaf


def definition_of(builder: Builder) -> dict[str, Any]:
    """The definition the form stands for, unchecked (``parse_definition`` checks it)."""
    nodes = [{"not": _leaf(row)} if row.negated else _leaf(row) for row in builder.rows]
    if len(nodes) == 1:
        return {"version": 1, "match": nodes[0]}
    return {"version": 1, "match": {builder.combine: nodes}}


def place_error(builder: Builder, field_name: str | None, message: str) -> None:
    """Shows a definition error beside the row and field its path names; the form as a whole
    when it names none of them."""
    found = _ROW_PATH.match(field_name or "")
    if not found or not builder.rows:
        builder.error = message
        return
    index = int(found.group(2)) if found.group(2) is not None else 0
    if found.group(2) is None and len(builder.rows) > 1:
        builder.error = message  # about the all/any list itself
        return
    if index >= len(builder.rows):
        builder.error = message
        return
    row = builder.rows[index]
    rest = found.group(3) or ""
    paths = [i.path for i in row.kind.inputs]
    target = next((p for p in paths if rest and (p == rest or p.startswith(rest + "."))), None)
    if target is None:
        row.error = message
    else:
        row.errors[target] = message


def field_id(index: int, path: str) -> str:
    """The HTML id of a row's input (dots are awkward in CSS selectors)."""
    return f"c{index}-" + path.replace(".", "-")
