"""The auth decorator: resolves the bearer token and enforces the role."""
from functools import wraps

from flask import current_app, g, request

from accounts.models import Account
from accounts.services import authenticate
from core.api import document_responses
from core.db import get_session, utcnow
from core.errors import Forbidden

BEARER = [{"bearerAuth": []}]


def auth_required(*roles: str):
    """Require a valid token (and one of `roles`, if given); the account is `current_account()`."""

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            account, token = authenticate(
                session=get_session(),
                authorization=request.headers.get("Authorization"),
                now=utcnow(),
            )
            if roles and account.role not in roles:
                raise Forbidden(f"This needs the {' or '.join(roles)} role.")
            g.account, g.token = account, token
            return current_app.ensure_sync(func)(*args, **kwargs)

        return document_responses(wrapper, [401, 403] if roles else [401], security=BEARER)

    return decorator


def current_account() -> Account:
    """The account authenticated by `auth_required` for this request."""
    return g.account
