"""HTTP routes for reviews: write, edit, delete, list (public), the merchant's reply, reports."""

import uuid

from flask.views import MethodView

from accounts.auth import current_account
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.errors import ValidationFailed
from core.ratelimit import RateLimit
from core.schemas import decode_cursor, page_of, parse_datetime
from reviews import services
from reviews.schemas import (
    ReplyWriteSchema,
    ReportCreateSchema,
    ReportReadSchema,
    ReviewCreateSchema,
    ReviewListSchema,
    ReviewPatchSchema,
    ReviewQuerySchema,
    ReviewReadSchema,
)
from venues.models import RATING_MAX, RATING_MIN

blp = Blueprint("reviews", __name__, url_prefix="/api/v1", description="Verified reviews of venues")

# Writing, editing and deleting reviews and replying to them share one budget per account.
REVIEW_WRITES = RateLimit("reviews", "REVIEW_RATE_LIMIT", "REVIEW_RATE_WINDOW_SECONDS")
REPORTS = RateLimit(
    "review-reports", "REVIEW_REPORT_RATE_LIMIT", "REVIEW_REPORT_RATE_WINDOW_SECONDS"
)


def _stars(value) -> int:
    stars = int(value)
    if not RATING_MIN <= stars <= RATING_MAX:
        raise ValueError("rating out of range")
    return stars


def _cursor_key(sort: str, cursor: str) -> tuple:
    """The sort key a `next_cursor` of the same `sort` carries (422 for any other cursor)."""
    rated = sort != "newest"
    types = (str, _stars, parse_datetime, uuid.UUID) if rated else (str, parse_datetime, uuid.UUID)
    issued_for, *key = decode_cursor(cursor, types)
    if issued_for != sort:
        raise ValidationFailed({"cursor": [f"Not a cursor of sort={sort}."]})
    if sort == "lowest":
        key[0] = -key[0]  # the order runs over (-rating), newest first
    return tuple(key)


def _next_key(sort: str, review: dict) -> list:
    rating = [review["rating"]] if sort != "newest" else []
    return [sort, *rating, review["created_at"].isoformat(), str(review["id"])]


def venue_reviews_page(
    *, session, venue_id: uuid.UUID, sort: str, limit: int, cursor: str | None
) -> dict:
    """One page of a venue's visible reviews in `sort` order, `{items, next_cursor}` (the API's
    list, and the merchant dashboard's)."""
    reviews = services.list_reviews(
        session=session,
        venue_id=venue_id,
        sort=sort,
        limit=limit + 1,
        after=_cursor_key(sort, cursor) if cursor else None,
    )
    return page_of(reviews, limit, lambda review: _next_key(sort, review))


@blp.route("/venues/<uuid:venue_id>/reviews")
class VenueReviews(MethodView):
    @endpoint(idempotent=True, rate_limit=REVIEW_WRITES)
    @blp.arguments(ReviewCreateSchema)
    @blp.response(201, ReviewReadSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data, venue_id: uuid.UUID):
        """Review a venue you visited: a redeemed voucher or a counted check-in within a year."""
        return services.create_review(
            session=get_session(),
            venue_id=venue_id,
            account=current_account(),
            now=utcnow(),
            **data,
        )

    @endpoint(optional_auth=True, read_only=True)
    @blp.arguments(ReviewQuerySchema, location="query")
    @blp.response(200, ReviewListSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, venue_id: uuid.UUID):
        """A venue's reviews (hidden ones left out): newest, highest or lowest first."""
        return venue_reviews_page(
            session=get_session(),
            venue_id=venue_id,
            sort=args["sort"],
            limit=args["limit"],
            cursor=args["cursor"],
        )


@blp.route("/reviews/<uuid:review_id>")
class ReviewById(MethodView):
    @endpoint(rate_limit=REVIEW_WRITES)
    @blp.arguments(ReviewPatchSchema)
    @blp.response(200, ReviewReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def patch(self, changes, review_id: uuid.UUID):
        """Change the rating or text of your review (within 30 days of writing it)."""
        return services.edit_review(
            session=get_session(),
            review_id=review_id,
            account=current_account(),
            now=utcnow(),
            **changes,
        )

    @endpoint(rate_limit=REVIEW_WRITES)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def delete(self, review_id: uuid.UUID):
        """Delete your review."""
        services.delete_review(
            session=get_session(), review_id=review_id, account=current_account()
        )


@blp.route("/reviews/<uuid:review_id>/reply")
class ReviewReply(MethodView):
    @endpoint(role="merchant", rate_limit=REVIEW_WRITES)
    @blp.arguments(ReplyWriteSchema)
    @blp.response(200, ReviewReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def put(self, data, review_id: uuid.UUID):
        """Reply to a review of your venue (one reply; sending again changes it)."""
        return services.reply_to_review(
            session=get_session(),
            review_id=review_id,
            merchant=current_account(),
            text=data["text"],
            now=utcnow(),
        )


@blp.route("/reviews/<uuid:review_id>/reports")
class ReviewReports(MethodView):
    @endpoint(idempotent=True, rate_limit=REPORTS)
    @blp.arguments(ReportCreateSchema)
    @blp.response(202, ReportReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data, review_id: uuid.UUID):
        """Report a review for moderation (once per account; a repeat answers the first)."""
        return services.report_review(
            session=get_session(),
            review_id=review_id,
            account=current_account(),
            now=utcnow(),
            **data,
        )
