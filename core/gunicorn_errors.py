"""gunicorn's own error responses (request line too long, malformed HTTP, oversized headers)
as problem+json, like every response of the app.

gunicorn answers these before any request reaches Flask, with an HTML page written by
`gunicorn.util.write_error`, the one function every worker class calls for them; `install`
replaces it in a worker process with `write_problem`.
"""

import json
import re

import gunicorn.util

from core.errors import HTTP_CODES, PROBLEM_JSON


def problem_code(status: int, reason: str) -> str:
    """Our problem `code` for a status: the app's own name for it, else the reason as a slug."""
    if status == 500:
        return "internal-error"
    return HTTP_CODES.get(status) or re.sub(r"[^a-z0-9]+", "-", reason.lower()).strip("-")


def problem_response(type_base: str, status: int, reason: str, detail: str) -> bytes:
    """A complete HTTP/1.1 response (closing the connection) with an RFC 9457 body shaped like
    `core.errors.problem`."""
    code = problem_code(status, reason)
    body = json.dumps(
        {
            "type": type_base + code,
            "title": reason,
            "status": status,
            "detail": detail or reason,
            "code": code,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def install(type_base: str) -> None:
    """Make gunicorn write its error responses as problem+json with `type` under `type_base`."""

    def write_problem(sock, status_int, reason, mesg):
        gunicorn.util.write_nonblock(sock, problem_response(type_base, status_int, reason, mesg))

    gunicorn.util.write_error = write_problem
