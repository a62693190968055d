"""HTTP routes for accounts and tokens."""

from datetime import timedelta

from flask import current_app, g
from flask.views import MethodView

from accounts import services
from accounts.auth import current_account
from accounts.passwords import app_password_hashing
from accounts.schemas import (
    AccountCreateSchema,
    AccountPatchSchema,
    AccountReadSchema,
    TokenCreateSchema,
    TokenReadSchema,
)
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.keys import hashed_client

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Accounts and tokens")


@blp.route("/accounts")
class Accounts(MethodView):
    @endpoint(public=True, idempotent=True)
    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountReadSchema)
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data):
        """Register a customer or merchant account."""
        return services.register(session=get_session(), hashing=app_password_hashing(), **data)


@blp.route("/tokens")
class Tokens(MethodView):
    @endpoint(public=True)
    @blp.arguments(TokenCreateSchema)
    @blp.response(201, TokenReadSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data):
        """Log in: exchange email and password for a bearer token."""
        config = current_app.config
        raw, token, account = services.issue_token(
            session=get_session(),
            email=data["email"],
            password=data["password"],
            client=hashed_client(),
            now=utcnow(),
            ttl=timedelta(days=config["TOKEN_TTL_DAYS"]),
            limits=services.LoginLimits.from_config(config),
            hashing=app_password_hashing(),
        )
        return {"token": raw, "expires_at": token.expires_at, "account": account}


@blp.route("/tokens/current")
class CurrentToken(MethodView):
    @endpoint()
    @blp.response(204)
    def delete(self):
        """Log out: the token used for this request stops working."""
        services.revoke_token(session=get_session(), token_id=g.token.id, now=utcnow())


@blp.route("/me")
class Me(MethodView):
    @endpoint(read_only=True)
    @blp.response(200, AccountReadSchema)
    def get(self):
        """The authenticated account."""
        return current_account()

    @endpoint()
    @blp.arguments(AccountPatchSchema)
    @blp.response(200, AccountReadSchema)
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, changes):
        """Change your handle (how friends find you) or display name."""
        return services.update_profile(session=get_session(), account=current_account(), **changes)
