"""Signing in to the dashboard: the session cookie, Flask-Login over a token row, CSRF.

A sign-in is `POST /tokens`'s login (accounts.services.issue_token: the same password check,
the same limits on failed logins, the same token row with its expiry and revocation), for
merchant accounts only. The signed session cookie names that token by id, never by a secret the
API would take, and lives only under /merchant/: the API never opens the session (requests
outside the dashboard get Flask's null session) and authenticates bearer tokens alone.
"""

import uuid
from datetime import timedelta

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect

from accounts.models import Account, Token
from accounts.passwords import app_password_hashing
from accounts.services import LoginLimits, authenticate_token_id, issue_token, register
from core.db import get_session, utcnow
from core.errors import Forbidden
from core.keys import hashed_client, purpose_key, served_over_https
from core.pages import PAGE_PREFIX

MERCHANT = "merchant"
csrf = CSRFProtect()


class DashboardUser(UserMixin):
    """A signed-in merchant: the account and the token row of this session."""

    def __init__(self, account: Account, token: Token):
        self.account, self.token = account, token

    def get_id(self) -> str:
        """The session's token id: signing out revokes it, whatever copies of the cookie exist."""
        return str(self.token.id)


class DashboardLoginManager(LoginManager):
    """Flask-Login without remember-me cookies: the dashboard never sets one, so it never
    reads one either (a stray `remember_token` cookie signs nobody in)."""

    def _load_user_from_remember_cookie(self, cookie):
        return None


class _SigningKey:
    """What Flask's cookie session reads of an app to sign with: a key, and no fallbacks."""

    def __init__(self, key: bytes):
        self.secret_key = key
        self.config = {"SECRET_KEY_FALLBACKS": []}


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session for dashboard requests only, signed with a key derived
    for it from the server key, and Secure whenever the client came over HTTPS."""

    def open_session(self, app: Flask, request):
        if not request.path.startswith(PAGE_PREFIX):
            return None  # Flask's null session: nothing outside the dashboard reads or sets one
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask):
        # Flask signs with the app's secret_key: hand it the dashboard's own key instead.
        return super().get_signing_serializer(_SigningKey(purpose_key("dashboard-session")))

    def get_cookie_secure(self, app: Flask) -> bool:
        return app.config["SESSION_COOKIE_SECURE"] or served_over_https()


login_manager = DashboardLoginManager()
login_manager.session_protection = None  # the token row is the session; see DashboardUser


@login_manager.user_loader
def load_user(token_id: str) -> DashboardUser | None:
    """The merchant whose live token the session names (None once it expired or was revoked)."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        return None
    found = authenticate_token_id(session=get_session(), token_id=parsed, now=utcnow())
    if found is None or found[0].role != MERCHANT:
        return None
    return DashboardUser(*found)


def sign_in_merchant(*, session, email: str, password: str) -> DashboardUser:
    """Check a merchant's email and password as `POST /tokens` does (its limits included) and
    open a dashboard session token; 403 for a customer account (the token is rolled back)."""
    config = current_app.config
    _raw, token, account = issue_token(
        session=session,
        email=email,
        password=password,
        client=hashed_client(),
        now=utcnow(),
        ttl=timedelta(hours=config["DASHBOARD_SESSION_HOURS"]),
        limits=LoginLimits.from_config(config),
        hashing=app_password_hashing(),
    )
    if account.role != MERCHANT:
        raise Forbidden("The dashboard is for merchant accounts; customers use the app.")
    return DashboardUser(account, token)


def sign_up_merchant(*, session, email: str, password: str, display_name: str) -> DashboardUser:
    """Register a merchant account as `POST /accounts` does (409 `email-taken`), then sign it
    in as `sign_in_merchant` does."""
    register(
        session=session,
        email=email,
        password=password,
        display_name=display_name,
        role=MERCHANT,
        hashing=app_password_hashing(),
    )
    return sign_in_merchant(session=session, email=email, password=password)


def init_app(app: Flask) -> None:
    """The session cookie's attributes, its signing, Flask-Login and Flask-WTF's CSRF."""
    with app.app_context():
        csrf_key = purpose_key("dashboard-csrf")
    app.config.update(
        SESSION_COOKIE_NAME="schwarm_dashboard",
        SESSION_COOKIE_PATH=PAGE_PREFIX.rstrip("/"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["DASHBOARD_SESSION_HOURS"]),
        WTF_CSRF_SECRET_KEY=csrf_key,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by every dashboard page (web.pages), nowhere else
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: a tablet's form may stay open
    )
    app.session_interface = DashboardSessionInterface()
    login_manager.init_app(app, add_context_processor=False)
    csrf.init_app(app)


def unsafe_method() -> bool:
    """Whether the request may change something (and so must carry the CSRF token)."""
    return request.method not in ("GET", "HEAD", "OPTIONS")
