"""HTML forms over the API's own schemas: a form's fields become the API's request body, which
the API's marshmallow schema validates, so a merchant reads the messages a client gets.

A form field only says how a person types a value (a price in euros rather than cents, a time
in the venue's time zone rather than UTC, a comma as decimal point) and which API field it
fills; every rule stays in the API's schema and service. Typed text that cannot be read as what
the field wants is handed on as typed, so the schema names the problem (`Not a valid integer.`),
except amounts, whose API field (cents) the person does not see.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError

from core.errors import ValidationFailed, flatten_validation_messages
from core.http import UNSTORABLE_MESSAGE, paths_with_unstorable_text

INTEGER = re.compile(r"[+-]?\d{1,12}")
AMOUNT = re.compile(r"\d{1,9}(?:[.,]\d{1,2})?")
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends
CHECKED = "true"  # what a ticked checkbox input sends
AMOUNT_MESSAGE = _l("Not a valid amount (for example 18.50).")


@dataclass(frozen=True)
class Field:
    """One input: `name` in the form, `key` the API field it fills (dotted for nested ones).

    `kind`: text, textarea, email, password, url, integer, amount (major units; the API takes
    minor units), decimal, datetime (venue-local), select (`choices`), checkboxes (`choices`),
    checkbox (one yes/no: the API's boolean).
    `nullable`: clearing it sends null (no cap, no description) instead of leaving it out.
    """

    name: str
    label: object
    kind: str = "text"
    key: str | None = None
    required: bool = False
    nullable: bool = False
    choices: tuple = ()
    hint: object = None
    attributes: dict = field(default_factory=dict)

    @property
    def api_key(self) -> str:
        """The API field this input fills."""
        return self.key or self.name


@dataclass
class FilledForm:
    """A form as a person filled it in: the raw values, and the messages to show per field
    (`errors["_form"]` for those that belong to no field)."""

    fields: tuple[Field, ...]
    values: dict[str, object]
    errors: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, messages: dict[str, list[str]]) -> None:
        """Attach API messages (keyed by API field, dotted) to the inputs that fill them."""
        for api_key, texts in messages.items():
            self.errors.setdefault(self._field_for(api_key), []).extend(texts)

    def _field_for(self, api_key: str) -> str:
        for candidate in self.fields:
            if candidate.api_key == api_key:
                return candidate.name
        for candidate in self.fields:  # "location" is missing: show it at its first input
            if candidate.api_key.startswith(api_key + "."):
                return candidate.name
        return "_form"


def read_form(fields: tuple[Field, ...], form) -> FilledForm:
    """The submitted values of `fields` (checkboxes as lists, the rest as stripped text)."""
    values = {
        spec.name: form.getlist(spec.name)
        if spec.kind == "checkboxes"
        else form.get(spec.name, "").strip()
        for spec in fields
    }
    return FilledForm(fields, values)


def initial_form(fields: tuple[Field, ...], source: dict, timezone: str = "UTC") -> FilledForm:
    """A form showing `source` (API field -> value, dotted keys for nested values)."""
    return FilledForm(
        fields,
        {spec.name: shown(spec, source.get(spec.api_key), timezone) for spec in fields},
    )


def shown(spec: Field, value, timezone: str):
    """How an input shows an API value."""
    if value is None:
        return [] if spec.kind == "checkboxes" else ""
    if spec.kind == "checkbox":
        return CHECKED if value else ""
    if spec.kind == "amount":
        return f"{Decimal(value) / 100:.2f}"
    if spec.kind == "datetime":
        return value.astimezone(ZoneInfo(timezone)).strftime(LOCAL_MINUTE)
    if spec.kind == "checkboxes":
        return list(value)
    return str(value)


def to_body(
    filled: FilledForm, timezone: str, *, only_changed_from: FilledForm | None = None
) -> dict:
    """The API request body the form means; `only_changed_from` (a PATCH) keeps only the inputs
    whose text differs from what the form first showed. Inputs that cannot be read at all
    (an amount that is no amount, a NUL) get their message on the form instead."""
    body: dict = {}
    for path in paths_with_unstorable_text(filled.values):
        filled.errors.setdefault(path.split(".")[0], []).append(UNSTORABLE_MESSAGE)
    patch = only_changed_from is not None
    for spec in _sent(filled, only_changed_from):
        if spec.name in filled.errors:
            continue
        value = _read(spec, filled.values[spec.name], timezone, patch=patch)
        if value is _UNREADABLE:
            filled.errors.setdefault(spec.name, []).append(str(AMOUNT_MESSAGE))
        elif value is not _ABSENT:
            _put(body, spec.api_key, value)
    return body


def validated(schema: Schema, filled: FilledForm, body: dict) -> dict | None:
    """`body` loaded by the API's schema, or None with the schema's messages on the form (also
    when the form already had messages of its own)."""
    try:
        data = schema.load(body)
    except ValidationError as error:
        filled.fail(flatten_validation_messages({"form": error.messages}))
        return None
    return None if filled.errors else data


def show_refusal(filled: FilledForm, error) -> None:
    """Put a service's refusal on the form: per-field messages of a 422, else the problem."""
    if isinstance(error, ValidationFailed):
        filled.fail(error.extra["errors"])
    else:
        filled.errors.setdefault("_form", []).append(error.detail)


def _sent(filled: FilledForm, initial: FilledForm | None) -> list[Field]:
    """The inputs a body carries: all, or for a PATCH the changed ones, with the other parts of
    a changed nested value (a location is sent whole)."""
    if initial is None:
        return list(filled.fields)
    changed = [s for s in filled.fields if filled.values[s.name] != initial.values[s.name]]
    parents = {s.api_key.rpartition(".")[0] for s in changed} - {""}
    return [s for s in filled.fields if s in changed or s.api_key.rpartition(".")[0] in parents]


_ABSENT = object()  # left out of the body: the API's default applies
_UNREADABLE = object()


def _read(spec: Field, raw, timezone: str, *, patch: bool):
    if spec.kind == "checkboxes":
        return raw
    if spec.kind == "checkbox":
        return raw == CHECKED
    if raw == "":
        if spec.nullable:
            return None
        return "" if patch else _ABSENT  # a PATCH that clears a required value: the API says no
    if spec.kind == "integer":
        return int(raw) if INTEGER.fullmatch(raw) else raw
    if spec.kind == "amount":
        if not AMOUNT.fullmatch(raw):
            return _UNREADABLE
        try:
            return int(Decimal(raw.replace(",", ".")) * 100)
        except InvalidOperation:
            return _UNREADABLE
    if spec.kind == "decimal":
        return raw.replace(",", ".")
    if spec.kind == "datetime":
        try:
            local = datetime.strptime(raw, LOCAL_MINUTE)
        except ValueError:
            return raw
        return local.replace(tzinfo=ZoneInfo(timezone)).isoformat()
    return raw


def _put(body: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for name in parents:
        body = body.setdefault(name, {})
    body[last] = value
