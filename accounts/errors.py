"""Errors of the accounts domain."""

from core.errors import Conflict, DomainError


class EmailTaken(Conflict):
    code, title = "email-taken", "An account with this email exists"


class HandleTaken(Conflict):
    code, title = "handle-taken", "Another account has this handle"


class PasswordHashingBusy(DomainError):
    status, code, title = 503, "password-hashing-busy", "Too many password checks at once"

    def __init__(self, retry_after_seconds: int):
        super().__init__(
            "The server is checking too many passwords at once; retry shortly.",
            headers={"Retry-After": str(retry_after_seconds)},
        )
