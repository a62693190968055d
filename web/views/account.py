"""Signing in and out, and the language of the dashboard."""

from flask import redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from accounts.schemas import AccountCreateSchema, TokenCreateSchema
from accounts.services import revoke_token
from core.db import get_session, utcnow
from web.auth import MERCHANT, DashboardUser, sign_in_merchant, sign_up_merchant
from web.blueprint import bp
from web.forms import Field, FilledForm, read_form, show_refusal, to_body, validated
from web.i18n import LANGUAGES
from web.pages import attempt, merchant, page, safe_next

EMAIL = Field("email", _l("Email"), "email", required=True, attributes={"autocomplete": "username"})
SIGN_IN_FIELDS = (
    EMAIL,
    Field(
        "password",
        _l("Password"),
        "password",
        required=True,
        attributes={"autocomplete": "current-password"},
    ),
)
SIGN_UP_FIELDS = (
    Field(
        "display_name", _l("Name of your business"), required=True, attributes={"maxlength": 100}
    ),
    EMAIL,
    Field(
        "password",
        _l("Password"),
        "password",
        required=True,
        hint=_l("At least 10 characters."),
        attributes={"autocomplete": "new-password", "minlength": 10},
    ),
)


def _sign_in_page(
    filled: FilledForm, status: int = 200, headers: dict | None = None, template="sign_in"
):
    filled.values["password"] = ""  # never sent back
    return render_template(f"merchant/{template}.html", form=filled), status, headers or {}


def _refused(filled: FilledForm, refusal, template: str):
    show_refusal(filled, refusal)
    retry = {k: v for k, v in refusal.headers.items() if k == "Retry-After"}
    return _sign_in_page(filled, refusal.status, retry, template)


def _start_session(user: DashboardUser) -> None:
    language = session.get("language")
    session.clear()  # nothing from before the sign-in carries over but the language
    if language:
        session["language"] = language
    login_user(user)
    session.permanent = True  # the cookie ends with the token (DASHBOARD_SESSION_HOURS)


@bp.route("/sign-in", methods=["GET", "POST"])
@page(public=True)
def sign_in():
    """Sign in with a merchant account's email and password."""
    destination = safe_next(request.args.get("next"), url_for("merchant.deals"))
    if merchant() is not None:
        return redirect(destination, 303)
    filled = read_form(SIGN_IN_FIELDS, request.form)
    if request.method == "GET":
        return _sign_in_page(filled)
    credentials = validated(TokenCreateSchema(), filled, to_body(filled, "UTC"))
    if credentials is None:
        return _sign_in_page(filled, 422)
    user, refusal = attempt(sign_in_merchant, **credentials)
    if refusal is not None:
        return _refused(filled, refusal, "sign_in")
    _start_session(user)
    return redirect(destination, 303)


@bp.route("/sign-up", methods=["GET", "POST"])
@page(public=True)
def sign_up():
    """Open a merchant account (as `POST /accounts` with the merchant role) and sign in."""
    if merchant() is not None:
        return redirect(url_for("merchant.deals"), 303)
    filled = read_form(SIGN_UP_FIELDS, request.form)
    if request.method == "GET":
        return _sign_in_page(filled, template="sign_up")
    body = {**to_body(filled, "UTC"), "role": MERCHANT}
    account = validated(AccountCreateSchema(), filled, body)
    if account is None:
        return _sign_in_page(filled, 422, template="sign_up")
    del account["role"]
    user, refusal = attempt(sign_up_merchant, **account)
    if refusal is not None:
        return _refused(filled, refusal, "sign_up")
    _start_session(user)
    return redirect(url_for("merchant.new_venue"), 303)


@bp.route("/sign-out", methods=["POST"])
@page()
def sign_out():
    """Sign out: the session's token is revoked, so no copy of the cookie works any more."""
    revoke_token(session=get_session(), token_id=current_user.token.id, now=utcnow())
    logout_user()
    return redirect(url_for("merchant.sign_in"), 303)


@bp.route("/language", methods=["POST"])
@page(public=True)
def choose_language():
    """Switch the dashboard between German and English (kept in the session)."""
    chosen = request.form.get("language")
    if chosen in LANGUAGES:
        session["language"] = chosen
    return redirect(safe_next(request.form.get("next"), url_for("merchant.deals")), 303)
