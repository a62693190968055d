"""Domain errors and the one handler that renders every error as RFC 9457 problem+json."""

import logging
from http import HTTPStatus

from flask import current_app, g, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger("schwarm.errors")

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """Base of every error a service raises on purpose; carries HTTP status and problem code."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict | None = None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **kwargs)


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed for this role"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class ValidationFailed(DomainError):
    """422 with per-field messages, for rules a schema cannot express."""

    status, code, title = 422, "validation-error", "The request is not valid"

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None):
        super().__init__(detail, errors=errors)


class RateLimited(DomainError):
    status, code, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None):
        seconds = max(1, int(retry_after_seconds))
        super().__init__(detail, headers={"Retry-After": str(seconds)})


class MalformedJson(DomainError):
    status, code, title = 400, "malformed-json", "The request body is not valid JSON"


class UnsupportedMediaType(DomainError):
    status, code, title = 415, "unsupported-media-type", "Send the body as application/json"


class AlreadyRedeemed(Conflict):
    code, title = "already-redeemed", "Already redeemed"


class CodeExpired(Conflict):
    code, title = "voucher-expired", "The code has expired"


class CodeVoid(Conflict):
    code, title = "voucher-void", "The code is void"


HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
}


def problem(status: int, code: str, title: str, detail: str, headers=None, **extra):
    """Build a problem+json response."""
    body = {
        "type": current_app.config["PROBLEM_TYPE_BASE"] + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_validation_messages(messages: dict) -> dict[str, list[str]]:
    """Turn webargs' `{location: {field: msgs}}` (nested) into `{"a.b": ["msg", ...]}`."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat.setdefault(prefix or "_body", []).extend(value)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}", sub)
        else:
            flat.setdefault(prefix or "_body", []).append(str(value))

    for location_messages in messages.values():
        walk("", location_messages)
    return flat


def handle_error(exc: Exception):
    """The single error handler: domain errors, HTTP errors, validation errors, crashes."""
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.code, exc.title, exc.detail, exc.headers, **exc.extra)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status, "error")
        title = HTTPStatus(status).phrase
        data = getattr(exc, "data", None) or {}
        if status == 422:
            errors = flatten_validation_messages(data.get("messages", {}))
            return problem(
                422,
                code,
                "The request is not valid",
                "One or more fields are invalid.",
                errors=errors,
            )
        headers = dict(data.get("headers") or {})
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        return problem(status, code, title, exc.description or title, headers)
    request_id = g.get("request_id", "-")
    if isinstance(exc, OperationalError):
        logger.warning("database unavailable (request id %s): %s", request_id, exc.orig)
        return problem(
            503,
            "database-unavailable",
            "Service unavailable",
            "The database cannot be reached right now; retry shortly.",
            {"Retry-After": "5"},
        )
    logger.exception("unhandled error (request id %s)", request_id)
    return problem(
        500,
        "internal-error",
        "Internal server error",
        f"Something went wrong on our side. Quote request id {request_id}.",
    )
