"""HTTP routes for referral credit."""

from functools import partial

from flask.views import MethodView

from accounts.auth import current_account
from core.api import Blueprint
from core.db import get_session
from core.endpoint import endpoint
from core.schemas import PageQuerySchema, newest_first_page
from referrals import services
from referrals.schemas import CreditsSchema

blp = Blueprint("credits", __name__, url_prefix="/api/v1", description="Referral credit")


@blp.route("/me/credits")
class MyCredits(MethodView):
    @endpoint(read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, CreditsSchema)
    def get(self, args):
        """Your referral credit: what is available and pending, and its entries newest first."""
        session, account = get_session(), current_account()
        page = newest_first_page(
            args, partial(services.my_credit_entries, session=session, account=account)
        )
        return {
            **services.credit_balance(session=session, account=account),
            "entries": page["items"],
            "next_cursor": page["next_cursor"],
        }
