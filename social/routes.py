"""HTTP routes for share links: the API (create, list) and the pages at the site root."""

import io
import uuid
from datetime import UTC, datetime
from functools import partial

import segno
from flask import Blueprint as PageBlueprint
from flask import current_app, jsonify, render_template, request
from flask.views import MethodView

from accounts.auth import current_account, signed_in_account
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.keys import client_address, client_network, keyed_digest
from core.ratelimit import RateLimit
from core.schemas import PageQuerySchema, newest_first_page
from deals.models import ReferralKind
from deals.schemas import DealListingSchema
from deals.services import get_deal
from social import privacy, services
from social.models import Share
from social.schemas import (
    ExportSchema,
    FeedSchema,
    FriendListSchema,
    FriendQuerySchema,
    FriendRequestSchema,
    FriendSchema,
    MyShareListSchema,
    ShareSchema,
)
from social.services import share_url
from venues.models import Venue

blp = Blueprint("shares", __name__, url_prefix="/api/v1", description="Share links of deals")
friends_blp = Blueprint(
    "friends", __name__, url_prefix="/api/v1", description="Friends and their shared feed"
)
data_blp = Blueprint(
    "account_data", __name__, url_prefix="/api/v1", description="Your data: export and deletion"
)
# The landing page and QR code live at the site root (short URLs) and are no API operations.
pages = PageBlueprint("share_pages", __name__, template_folder="templates")

SHARE_FIELDS = ("code", "deal_id", "created_at", "visits", "commitments", "units", "credit_cents")


def _with_url(share: Share) -> dict:
    return {"url": share_url(share.code), **{name: getattr(share, name) for name in SHARE_FIELDS}}


@blp.route("/deals/<uuid:deal_id>/shares")
class DealShares(MethodView):
    @endpoint(idempotent=True)
    @blp.response(201, ShareSchema)
    @blp.alt_response(200, schema=ShareSchema, description="Your existing share of the deal")
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, deal_id: uuid.UUID):
        """Share a deal: your link to it (one per account and deal)."""
        share, created = services.share_deal(
            session=get_session(), deal_id=deal_id, account=current_account()
        )
        return _with_url(share), 201 if created else 200


@blp.route("/me/shares")
class MyShares(MethodView):
    @endpoint(read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, MyShareListSchema)
    def get(self, args):
        """Your share links, newest first, with visits and attributed commitments."""
        page = newest_first_page(
            args, partial(services.my_shares, session=get_session(), account=current_account())
        )
        items = [{**_with_url(share), "referral": share.referral} for share in page["items"]]
        return {**page, "items": items}


def _visitor_digest(day: str) -> str:
    # The client network and browser, keyed per day: stable within the day, unlinkable across.
    visitor = f"{client_network(client_address())}\n{request.headers.get('User-Agent', '')}"
    return keyed_digest(f"share-visit:{day}", visitor)


def _time_left(ends_at: datetime, now: datetime) -> str:
    seconds = int((ends_at - now).total_seconds())
    if seconds <= 0:
        return "ended"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h left"
    return f"{hours} h {rest // 60} min left" if hours else f"{max(rest // 60, 1)} min left"


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"


def _reviews_line(rating: dict) -> str | None:
    """ "4.3/5 from 12 verified reviews" (always with the count), or None without reviews."""
    count = rating["count"]
    if not count:
        return None
    return f"{rating['average']:.1f}/5 from {count} verified review{'s' if count > 1 else ''}"


def referral_terms(referral: dict | None, new_customers_only: bool) -> str | None:
    """What a deal's sharer earns, in words (the disclosure of the landing page)."""
    if referral is None:
        return None
    if referral["kind"] == ReferralKind.COMMISSION:
        earned = f"{referral['percent']}% of each unit bought through the link"
    else:
        earned = f"their own units back once {referral['friends']} friend(s) bought through it"
    return earned + (" (customers new to this merchant only)" if new_customers_only else "")


def _landing(share: Share, deal, venue: Venue, now: datetime) -> dict:
    to_go = max(deal.min_commitments - deal.committed_count, 0)
    progress = f"{deal.committed_count} of {deal.min_commitments} committed, " + (
        f"{to_go} to go" if to_go else "the deal has tipped"
    )
    price = _money(deal.price_cents, deal.currency)
    discount = None
    if deal.original_price_cents:
        percent = round(100 * (1 - deal.price_cents / deal.original_price_cents))
        discount = f"{percent}% off {_money(deal.original_price_cents, deal.currency)}"
    summary = f"{price}{f' ({discount})' if discount else ''} at {venue.name}. {progress}."
    reviews = _reviews_line(deal.rating)
    if reviews:
        summary = f"{summary} {reviews}."
    referral = referral_terms(deal.referral, deal.new_customers_only)
    return {
        "deal": deal,
        "venue": venue,
        "url": share_url(share.code),
        "app_link": f"schwarm://deals/{deal.id}?share={share.code}",
        "price": price,
        "discount": discount,
        "progress": progress,
        "reviews": reviews,
        "summary": summary,
        "referral": referral,
        "ends_at": deal.ends_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "time_left": _time_left(deal.ends_at, now),
    }


@pages.route("/s/<string:code>")
@endpoint(optional_auth=True)
def landing_page(code: str):
    """The shared deal: an HTML preview page, or its JSON with `Accept: application/json`.

    Not read-only: the visit is counted in the request's own unit of work.
    """
    session, now = get_session(), utcnow()
    share = services.share_by_code(session=session, code=code)
    day = now.date()
    services.count_visit(
        session=session, share_id=share.id, visitor=_visitor_digest(day.isoformat()), day=day
    )
    deal = get_deal(session=session, deal_id=share.deal_id)
    wanted = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if wanted == "application/json":
        services.with_social_proof(
            session=session, deals=[deal], viewer=signed_in_account(), now=now
        )
        return jsonify(DealListingSchema().dump(deal))
    venue = session.get(Venue, deal.venue_id)
    return render_template("share.html", **_landing(share, deal, venue, now))


@pages.route("/s/<string:code>/qr.svg")
@endpoint(optional_auth=True, read_only=True)
def qr_code(code: str):
    """The share URL as an SVG QR code (posters at the counter)."""
    share = services.share_by_code(session=get_session(), code=code)
    svg = io.BytesIO()
    segno.make(share_url(share.code), error="m").save(svg, kind="svg", scale=8, border=4)
    return current_app.response_class(svg.getvalue(), mimetype="image/svg+xml")


@friends_blp.route("/me/friends")
class MyFriends(MethodView):
    @endpoint(role="customer", read_only=True)
    @friends_blp.arguments(FriendQuerySchema, location="query")
    @friends_blp.response(200, FriendListSchema)
    def get(self, args):
        """Your friends and pending friend requests both ways, newest first."""
        return newest_first_page(
            args,
            partial(
                services.list_friends,
                session=get_session(),
                account=current_account(),
                status=args.get("status"),
            ),
        )

    @endpoint(
        role="customer",
        idempotent=True,
        # Every request counts, unknown handles too: guessing handles costs the same budget.
        rate_limit=RateLimit(
            "friend-requests",
            "FRIEND_REQUEST_RATE_LIMIT",
            "FRIEND_REQUEST_RATE_WINDOW_SECONDS",
            counts_refused=True,
        ),
    )
    @friends_blp.arguments(FriendRequestSchema)
    @friends_blp.response(201, FriendSchema)
    @friends_blp.alt_response(
        200, schema=FriendSchema, description="Already friends or asked; or they had asked you"
    )
    @friends_blp.alt_response(404, response="NOT_FOUND")
    @friends_blp.alt_response(409, response="CONFLICT")
    @friends_blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Ask the account with this handle to be friends."""
        entry, created = services.request_friendship(
            session=get_session(),
            account=current_account(),
            handle=data["handle"],
            now=utcnow(),
            limits=services.FriendLimits.from_config(current_app.config),
        )
        return entry, 201 if created else 200


@friends_blp.route("/me/friends/<uuid:account_id>/accept")
class AcceptFriend(MethodView):
    @endpoint(role="customer")
    @friends_blp.response(200, FriendSchema)
    @friends_blp.alt_response(404, response="NOT_FOUND")
    @friends_blp.alt_response(409, response="CONFLICT")
    def post(self, account_id: uuid.UUID):
        """Accept the friend request this account sent you."""
        return services.accept_friendship(
            session=get_session(),
            account=current_account(),
            requester_id=account_id,
            now=utcnow(),
            limits=services.FriendLimits.from_config(current_app.config),
        )


@friends_blp.route("/me/friends/<uuid:account_id>")
class Friend(MethodView):
    @endpoint(role="customer")
    @friends_blp.response(204)
    @friends_blp.alt_response(404, response="NOT_FOUND")
    def delete(self, account_id: uuid.UUID):
        """Decline their request, cancel yours, or unfriend."""
        services.remove_friendship(
            session=get_session(), account=current_account(), other_id=account_id
        )


@friends_blp.route("/me/feed")
class MyFeed(MethodView):
    @endpoint(role="customer", read_only=True)
    @friends_blp.arguments(PageQuerySchema, location="query")
    @friends_blp.response(200, FeedSchema)
    def get(self, args):
        """Your friends' shared check-ins and commitments, and their reviews, newest first."""
        return newest_first_page(
            args, partial(services.feed, session=get_session(), account=current_account())
        )


@data_blp.route("/me/export")
class MyExport(MethodView):
    @endpoint(read_only=True)
    @data_blp.response(200, ExportSchema)
    def get(self):
        """Everything about you, as JSON (check-ins with the points you reported)."""
        return privacy.export_account(session=get_session(), account=current_account())


@data_blp.route("/me")
class DeleteMe(MethodView):
    @endpoint(role="customer")
    @data_blp.response(204)
    def delete(self):
        """Delete your account (see the README: what goes, and what stays anonymous)."""
        privacy.delete_account(session=get_session(), account=current_account(), now=utcnow())
