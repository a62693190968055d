"""Reviews of a venue, and the merchant's one reply to each (the API's list and reply)."""

import uuid

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from core.db import get_session, utcnow
from reviews.routes import REVIEW_WRITES, venue_reviews_page
from reviews.schemas import SORTS, ReplyWriteSchema
from reviews.services import reply_to_review
from venues.services import get_owned_venue
from web.blueprint import bp
from web.forms import Field, read_form, show_refusal, to_body, validated
from web.pages import PAGE_SIZE, attempt, merchant, page

REPLY_FIELDS = (Field("text", _l("Your reply"), "textarea", required=True),)
SORT_LABELS = {
    "newest": _l("Newest"),
    "lowest": _l("Lowest rating"),
    "highest": _l("Highest rating"),
}


def _reviews_page(venue_id: uuid.UUID, sort: str, refused: dict | None = None, status: int = 200):
    """The reviews page; `refused` is the reply form that was refused (`review_id`, `form`)."""
    session = get_session()
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant())
    found = venue_reviews_page(
        session=session,
        venue_id=venue.id,
        sort=sort,
        limit=PAGE_SIZE,
        cursor=request.args.get("cursor") or None,
    )
    return (
        render_template(
            "merchant/reviews.html",
            venue=venue,
            page=found,
            sort=sort,
            sorts={name: SORT_LABELS[name] for name in SORTS},
            refused=refused or {},
        ),
        status,
    )


def _sort(value: str | None) -> str:
    return value if value in SORTS else SORTS[0]


@bp.route("/venues/<uuid:venue_id>/reviews")
@page(read_only=True)
def reviews(venue_id: uuid.UUID):
    """A venue's visible reviews, newest, lowest or highest first, each with its reply form."""
    return _reviews_page(venue_id, _sort(request.args.get("sort")))


@bp.route("/venues/<uuid:venue_id>/reviews/<uuid:review_id>/reply", methods=["POST"])
@page(rate_limit=REVIEW_WRITES)
def reply(venue_id: uuid.UUID, review_id: uuid.UUID):
    """Write or change the reply to a review (`PUT /reviews/{id}/reply`)."""
    sort = _sort(request.form.get("sort"))
    filled = read_form(REPLY_FIELDS, request.form)
    data = validated(ReplyWriteSchema(), filled, to_body(filled, "UTC"))
    if data is not None:
        replied, refusal = attempt(
            reply_to_review,
            review_id=review_id,
            merchant=merchant(),
            text=data["text"],
            now=utcnow(),
        )
        if refusal is None:
            destination = url_for("merchant.reviews", venue_id=replied["venue_id"], sort=sort)
            return redirect(f"{destination}#review-{review_id}", 303)
        show_refusal(filled, refusal)
    return _reviews_page(venue_id, sort, {"review_id": review_id, "form": filled}, 422)
