"""An HTML form generated from the JSON schema an instance asks input for, and the answer read back.

Top-level properties become fields: strings text inputs, integers and numbers number inputs, booleans
checkboxes, enums selects, anything else (objects, arrays, unions) a JSON text area. The answer is
validated against the full schema on the server before it is sent (see :mod:`edda_mcp.human`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldSpec", "FormProblem", "fields_of", "read_answer"]

FIELD_PREFIX = "field."


class FormProblem(Exception):
    """A field could not be read (the message names it)."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One form field.

    Attributes:
        name: the property name.
        label: the schema's title, or the name.
        kind: ``text``, ``integer``, ``number``, ``checkbox``, ``select`` or ``json``.
        required: listed in the schema's ``required``.
        description: the schema's description.
        options: the allowed values of a ``select`` (as JSON text).
        default: the schema's default (as text) or "".
    """

    name: str
    label: str
    kind: str
    required: bool
    description: str = ""
    options: tuple[str, ...] = ()
    default: str = ""


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}
    variants = schema.get("anyOf")
    if isinstance(variants, list):  # Optional[X]: the non-null variant
        real = [v for v in variants if isinstance(v, Mapping) and v.get("type") != "null"]
        if len(real) == 1:
            return {**schema, **_resolve(real[0], root)}
    return schema


def _kind(prop: Mapping[str, Any]) -> str:
    if isinstance(prop.get("enum"), list):
        return "select"
    kind = prop.get("type")
    return {"string": "text", "integer": "integer", "number": "number", "boolean": "checkbox"}.get(
        kind if isinstance(kind, str) else "", "json"
    )


def fields_of(schema: Mapping[str, Any]) -> list[FieldSpec]:
    """The fields of the form for ``schema`` (one JSON field for a schema without properties)."""
    props = schema.get("properties")
    if not isinstance(props, Mapping) or not props:
        return [FieldSpec("", "answer (JSON)", "json", True)]
    required = set(schema.get("required") or ())
    fields = []
    for name, raw in props.items():
        prop = _resolve(raw if isinstance(raw, Mapping) else {}, schema)
        kind = _kind(prop)
        default = prop.get("default")
        fields.append(
            FieldSpec(
                name=str(name),
                label=str(prop.get("title") or name),
                kind=kind,
                required=name in required,
                description=str(prop.get("description") or ""),
                options=tuple(json.dumps(v) for v in prop.get("enum", ())) if kind == "select" else (),
                default=""
                if default is None
                else (default if isinstance(default, str) else json.dumps(default)),
            )
        )
    return fields


def _read(spec: FieldSpec, raw: str | None) -> tuple[bool, Any]:
    """``(present, value)`` of one submitted field."""
    if spec.kind == "checkbox":
        return True, raw is not None
    text = (raw or "").strip() if spec.kind != "text" else (raw or "")
    if text == "" and not spec.required:
        return False, None
    label = spec.name or "answer"
    try:
        if spec.kind == "integer":
            return True, int(text)
        if spec.kind == "number":
            return True, float(text)
        if spec.kind in ("select", "json"):
            return True, json.loads(text)
    except ValueError:
        expected = {"integer": "a whole number", "number": "a number"}.get(spec.kind, "valid JSON")
        raise FormProblem(f"{label}: expected {expected}, got {text!r}") from None
    return True, text


def read_answer(schema: Mapping[str, Any], form: Mapping[str, Any]) -> Any:
    """The answer built from the submitted ``form`` (fields named ``field.<property>``).

    Raises:
        FormProblem: a field is not a number / not JSON as its type needs.
    """
    specs = fields_of(schema)
    if len(specs) == 1 and specs[0].name == "":
        return _read(specs[0], form.get(FIELD_PREFIX))[1]
    answer: dict[str, Any] = {}
    for spec in specs:
        raw = form.get(FIELD_PREFIX + spec.name)
        present, value = _read(spec, raw if isinstance(raw, str) else None)
        if present:
            answer[spec.name] = value
    return answer
