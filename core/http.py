"""HTTP conventions applied to every request: request ids and JSON body checks."""
import json
import uuid

from flask import Flask, g, request

from core.errors import MalformedJson, UnsupportedMediaType

REQUEST_ID_HEADER = "X-Request-ID"


def assign_request_id() -> None:
    """Give every request an id (the client's if it sent a sane one) for logs and responses."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex


def check_json_body() -> None:
    """Refuse bodies that are not JSON (415) or not well-formed JSON (400) before any view runs."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = request.get_data(cache=True)
    if not body:
        return
    if not request.is_json:
        raise UnsupportedMediaType(
            f"Expected Content-Type application/json, got {request.mimetype or 'none'}."
        )
    try:
        json.loads(body)
    except ValueError as exc:
        raise MalformedJson(f"The body could not be parsed as JSON: {exc}.") from exc


def add_request_id_header(response):
    """Echo the request id so clients can quote it."""
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
    return response


def init_app(app: Flask) -> None:
    """Register the request hooks."""
    app.before_request(assign_request_id)
    app.before_request(check_json_body)
    app.after_request(add_request_id_header)
