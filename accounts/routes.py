"""HTTP routes for accounts and tokens."""
from datetime import timedelta

from flask import current_app, g
from flask.views import MethodView

from accounts import services
from accounts.auth import auth_required, current_account
from accounts.schemas import (
    AccountCreateSchema,
    AccountReadSchema,
    TokenCreateSchema,
    TokenReadSchema,
)
from core.api import Blueprint
from core.db import get_session, utcnow
from core.idempotency import idempotent

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts and tokens")

@blp.route("/accounts")
class Accounts(MethodView):
    @idempotent
    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountReadSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Register a customer or merchant account."""
        return services.register(
            session=get_session(), fast_hash=current_app.config["PASSWORD_HASH_FAST"], **data
        )

@blp.route("/tokens")
class Tokens(MethodView):
    @blp.arguments(TokenCreateSchema)
    @blp.response(201, TokenReadSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Log in: exchange email and password for a bearer token."""
        config = current_app.config
        raw, token, account = services.issue_token(
            session=get_session(),
            email=data["email"],
            password=data["password"],
            now=utcnow(),
            ttl=timedelta(days=config["TOKEN_TTL_DAYS"]),
            max_failures=config["LOGIN_MAX_FAILURES"],
            failure_window=timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"]),
            fast_hash=config["PASSWORD_HASH_FAST"],
        )
        return {"token": raw, "expires_at": token.expires_at, "account": account}

@blp.route("/tokens/current")
class CurrentToken(MethodView):
    @auth_required()
    @blp.response(204)
    def delete(self):
        """Log out: the token used for this request stops working."""
        services.revoke_token(session=get_session(), token_id=g.token.id, now=utcnow())

@blp.route("/me")
class Me(MethodView):
    @auth_required()
    @blp.response(200, AccountReadSchema)
    def get(self):
        """The authenticated account."""
        return current_account()

