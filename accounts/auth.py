"""Authentication of a request: resolves the bearer token and enforces the role."""

from flask import g, request
from sqlalchemy.orm import Session

from accounts.models import Account
from accounts.services import authenticate
from core.db import utcnow
from core.errors import Forbidden

BEARER = [{"bearerAuth": []}]


def authenticate_request(session: Session, role: str | None) -> Account:
    """Resolve the request's bearer token (401) and require `role` if given (403); the account
    is then `current_account()`."""
    account, token = authenticate(
        session=session, authorization=request.headers.get("Authorization"), now=utcnow()
    )
    if role is not None and account.role != role:
        raise Forbidden(f"This needs the {role} role.")
    g.account, g.token = account, token
    return account


def current_account() -> Account:
    """The account authenticated for this request."""
    return g.account


def signed_in_account() -> Account | None:
    """The account authenticated for this request, or None for an anonymous public read."""
    return g.get("account")
