"""HTTP conventions applied to every request: request ids and JSON body checks."""

import json
import re
import uuid

import orjson
from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import MalformedJson, UnsupportedMediaType, ValidationFailed
from core.pages import requested_page

REQUEST_ID_HEADER = "X-Request-ID"
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
JSON_BRACKET = re.compile(rb"[\[\]{}]")
UNSTORABLE_MESSAGE = "Must not contain NUL (\\u0000) characters or unpaired UTF-16 surrogates."


def assign_request_id() -> None:
    """Give every request an id (the client's if it sent a sane one) for logs and responses."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = (
        incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    )


def check_json_body() -> None:
    """Refuse bodies that are not JSON (415) or not well-formed JSON (400) before any view runs.

    Pages (core.pages) take HTML forms instead, and check their fields themselves.
    """
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = request.get_data(cache=True)
    if _streamed_body_too_large(body):
        raise RequestEntityTooLarge()
    if not body or requested_page() is not None:
        return
    if not request.is_json:
        raise UnsupportedMediaType(
            f"Expected Content-Type application/json, got {request.mimetype or 'none'}."
        )
    max_depth = current_app.config["JSON_MAX_DEPTH"]
    if _nesting_depth_exceeds(body, max_depth):
        raise MalformedJson(f"The body nests arrays and objects deeper than {max_depth} levels.")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise MalformedJson(f"The body could not be parsed as JSON: {exc}.") from exc
    unstorable = sorted(paths_with_unstorable_text(document))
    if unstorable:
        raise ValidationFailed({path: [UNSTORABLE_MESSAGE] for path in unstorable})


def _nesting_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether JSON `body` opens more than `limit` arrays/objects inside each other.

    Counted in one pass over the brackets outside strings, before parsing: `json.loads` and the
    checks after it recurse once per level, so a deep enough document would exhaust the stack.
    """
    if body.count(b"[") + body.count(b"{") <= limit:  # the usual body: nothing to count
        return False
    depth = 0
    for bracket in JSON_BRACKET.findall(JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


def paths_with_unstorable_text(value, path: str = "") -> list[str]:
    """Where a JSON document (or a form's fields) holds a string (or key) PostgreSQL cannot
    store: one with a NUL,
    or with a lone surrogate (`"\\ud800"` parses, but has no UTF-8 form)."""
    if isinstance(value, str):
        return [path or "_body"] if _unstorable(value) else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if _unstorable(key) else paths_with_unstorable_text(item, child)
        return found
    if isinstance(value, list):
        return [
            p
            for index, item in enumerate(value)
            for p in paths_with_unstorable_text(item, f"{path}.{index}")
        ]
    return []


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _streamed_body_too_large(body: bytes) -> bool:
    """Whether a body sent without Content-Length (chunked) went past MAX_CONTENT_LENGTH.

    Werkzeug checks a declared Content-Length up front (413), but silently cuts a streamed
    body at the limit; if the server's stream still has data after that, the body was too big.
    """
    limit = request.max_content_length
    if limit is None or request.content_length is not None or len(body) < limit:
        return False
    if "wsgi.input_terminated" not in request.environ:
        return False
    return bool(request.environ["wsgi.input"].read(1))


def add_request_id_header(response):
    """Echo the request id so clients can quote it."""
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
    return response


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with responses encoded by orjson (several times faster on pages).

    Keys stay sorted and dates keep Flask's format, so responses read as before; request
    bodies are still parsed by `json`, whose acceptance rules the input checks rely on.
    """

    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME

    def dumps(self, obj, **kwargs) -> str:
        """Serialise `obj`; types orjson does not know go to Flask's default hook."""
        return orjson.dumps(obj, default=self.default, option=self.options).decode()


def init_app(app: Flask) -> None:
    """Register the request hooks and the JSON provider."""
    app.json = OrjsonProvider(app)
    app.before_request(assign_request_id)
    app.before_request(check_json_body)
    app.after_request(add_request_id_header)
