"""Review verbs: write, edit, delete, list, reply, report; and moderation (hide, keep).

Each runs in the caller's unit of work (core.db.unit_of_work): it flushes and raises, and the
edge commits once or rolls back. Every change to a visible review's rating changes the venue's
counters (`venues.services.change_rating`) in the same transaction, so `rating` is exact. The
verbs come first, their private helpers after; the SQL is in `reviews.statements`.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Account
from core.errors import NotFound
from notifications.services import enqueue
from reviews import statements
from reviews.errors import (
    AlreadyReviewed,
    NotAVerifiedVisitor,
    OwnReview,
    ReviewHidden,
    ReviewLocked,
)
from reviews.models import ModerationAction, Review, ReviewModeration, ReviewReport, VerifiedBy
from venues.models import Venue
from venues.services import change_rating, get_venue

# Fixed by the contract: a visit verifies for a year, a review can be edited for 30 days.
VISIT_WINDOW = timedelta(days=365)
EDIT_WINDOW = timedelta(days=30)
# Wider than any offset between UTC and a venue's local day (UTC-12 to UTC+14).
LOCAL_DAY_MARGIN = timedelta(days=1)
EXCERPT_LENGTH = 140


def verified_by(
    *, session: Session, account_id: uuid.UUID, venue_id: uuid.UUID, now: datetime
) -> VerifiedBy | None:
    """How the account proves a visit of the venue within VISIT_WINDOW, or None.

    A redeemed voucher wins over a counted check-in: the merchant saw it at the counter, and it
    is a purchase (Amazon's "Verified Purchase"), where a check-in is the phone's word.
    """
    since = now - VISIT_WINDOW
    visits = session.execute(
        statements.VERIFIED_VISITS,
        {
            "visitor_id": account_id,
            "visited_venue_id": venue_id,
            "since": since,
            "since_day": (since - LOCAL_DAY_MARGIN).date(),
        },
    ).one()
    if visits.voucher:
        return VerifiedBy.VOUCHER
    return VerifiedBy.CHECKIN if visits.checkin else None


def create_review(
    *,
    session: Session,
    venue_id: uuid.UUID,
    account: Account,
    rating: int,
    text: str | None,
    now: datetime,
) -> dict:
    """Review a venue once, as a verified visitor who is not its merchant; tell the merchant."""
    venue = get_venue(session=session, venue_id=venue_id)
    if venue.merchant_id == account.id:
        raise NotAVerifiedVisitor("A merchant cannot review its own venue.")
    proof = verified_by(session=session, account_id=account.id, venue_id=venue.id, now=now)
    if proof is None:
        raise NotAVerifiedVisitor(
            "Reviews need a redeemed voucher of a deal here, or a counted check-in here, "
            "within the last 365 days."
        )
    review = session.scalars(
        statements.INSERT_REVIEW,
        {
            "reviewed_venue_id": venue.id,
            "author_id": account.id,
            "stars": rating,
            "words": text,
            "proof": proof.value,
            "written_at": now,
        },
    ).one_or_none()
    if review is None:
        raise AlreadyReviewed("You have reviewed this venue already; edit or delete that review.")
    change_rating(session=session, venue_id=venue.id, count=1, total=rating)
    enqueue(
        session,
        kind="review.created",
        recipients=[venue.merchant_id],
        title="New review",
        body=f"{rating}/5 for {venue.name}" + (f": “{_excerpt(text)}”" if text else ""),
        payload={**_event_data(review, venue), "text": text, "verified_by": proof.value},
        dedupe_key=f"review.created:{review.id}",
    )
    session.flush()
    return _public(review, account.display_name)


def edit_review(
    *, session: Session, review_id: uuid.UUID, account: Account, now: datetime, **changes
) -> dict:
    """Change the rating or text of one's own review within EDIT_WINDOW of writing it."""
    review = _own_review(session, review_id, account, lock=True)
    if review.hidden_at is not None:
        raise ReviewHidden("Moderation hid this review; it can only be deleted.")
    if now - review.created_at > EDIT_WINDOW:
        raise ReviewLocked("Reviews can be edited for 30 days after writing; this one is older.")
    if changes:
        difference = changes.get("rating", review.rating) - review.rating
        if difference:
            change_rating(session=session, venue_id=review.venue_id, count=0, total=difference)
        for name, value in changes.items():
            setattr(review, name, value)
        review.edited_at = now
        session.flush()
    return _public(review, account.display_name)


def delete_review(*, session: Session, review_id: uuid.UUID, account: Account) -> None:
    """Delete one's own review (hidden or not); a visible one leaves the venue's rating."""
    review = _own_review(session, review_id, account, lock=True)
    if review.hidden_at is None:
        change_rating(session=session, venue_id=review.venue_id, count=-1, total=-review.rating)
    session.delete(review)
    session.flush()


def list_reviews(
    *, session: Session, venue_id: uuid.UUID, sort: str, limit: int, after: tuple | None
) -> list[dict]:
    """A venue's visible reviews in `sort` order after the cursor's key; 404 for no venue."""
    values = {"listed_venue_id": venue_id, "limit": limit}
    values.update({f"after_{i}": key for i, key in enumerate(after or ())})
    rows = session.connection().execute(statements.LISTINGS[sort, after is not None], values)
    reviews = [_public(row, row.display_name) for row in rows]
    if not reviews:
        get_venue(session=session, venue_id=venue_id)
    return reviews


def reply_to_review(
    *, session: Session, review_id: uuid.UUID, merchant: Account, text: str, now: datetime
) -> dict:
    """Write or change the one reply of the venue's merchant to a visible review; the author
    is told about the first (changes to it are corrections, not news)."""
    found = session.execute(
        select(Review, Venue, Account.display_name)
        .join(Venue, Venue.id == Review.venue_id)
        .join(Account, Account.id == Review.account_id)
        .where(
            Review.id == review_id,
            Venue.merchant_id == merchant.id,
            Review.hidden_at.is_(None),
        )
        .with_for_update(of=Review)
    ).one_or_none()
    if found is None:
        raise NotFound("No such review.")
    review, venue, author = found
    first_reply = review.reply_text is None
    review.reply_text = text
    if not first_reply:
        review.reply_edited_at = now
    else:
        review.replied_at = now
        enqueue(
            session,
            kind="review.replied",
            recipients=[review.account_id],
            title=f"{venue.name} replied to your review",
            body=_excerpt(text),
            payload={**_event_data(review, venue), "reply": text},
            dedupe_key=f"review.replied:{review.id}",
        )
    session.flush()
    return _public(review, author)


def report_review(
    *,
    session: Session,
    review_id: uuid.UUID,
    account: Account,
    reason: str,
    detail: str | None,
    now: datetime,
) -> ReviewReport:
    """Report a visible review for moderation, once per account: a repeat answers the first
    report and counts nothing. Its author cannot report it (409 `own-review`)."""
    review = session.scalars(
        select(Review).where(Review.id == review_id, Review.hidden_at.is_(None))
    ).one_or_none()
    if review is None:
        raise NotFound("No such review.")
    if review.account_id == account.id:
        raise OwnReview("You wrote this review: edit or delete it instead.")
    report = session.scalars(
        statements.INSERT_REPORT,
        {
            "reported_review_id": review.id,
            "reporter_id": account.id,
            "why": reason,
            "details": detail,
            "reported_at": now,
        },
    ).one_or_none()
    if report is not None:
        session.execute(
            statements.COUNT_REPORT, {"counted_review_id": review.id, "reported_at": now}
        )
        return report
    return session.get(ReviewReport, (review.id, account.id))


def reported_reviews(*, session: Session, limit: int) -> list[dict]:
    """The moderators' queue: visible reviews with reports since the last decision, most
    reported first, each with its venue, author and reports by reason."""
    rows = session.execute(
        select(Review, Venue.name.label("venue_name"), Account.display_name)
        .join(Venue, Venue.id == Review.venue_id)
        .join(Account, Account.id == Review.account_id)
        .where(Review.reports_count > 0, Review.hidden_at.is_(None))
        .order_by(Review.reports_count.desc(), Review.last_reported_at.desc())
        .limit(limit)
    ).all()
    reasons = _open_reports_by_reason(session, [row.Review for row in rows])
    return [
        {
            "review": row.Review,
            "venue_name": row.venue_name,
            "author": row.display_name,
            "reasons": reasons.get(row.Review.id, {}),
        }
        for row in rows
    ]


def hide_review(
    *, session: Session, review_id: uuid.UUID, reason: str, moderator: str, now: datetime
) -> Review:
    """Moderation: take a review out of the list and the venue's rating, log the decision, and
    tell the author why. Hiding a hidden review changes nothing."""
    review = _review_for_moderation(session, review_id)
    if review.hidden_at is not None:
        return review
    change_rating(session=session, venue_id=review.venue_id, count=-1, total=-review.rating)
    review.hidden_at = now
    _log_decision(session, review, ModerationAction.HIDDEN, reason, moderator, now)
    venue = session.get(Venue, review.venue_id)
    enqueue(
        session,
        kind="review.hidden",
        recipients=[review.account_id],
        title=f"Your review of {venue.name} was hidden",
        body=f"Moderation hid it: {reason}",
        payload={**_event_data(review, venue), "reason": reason},
        dedupe_key=f"review.hidden:{review.id}",
    )
    session.flush()
    return review


def keep_review(
    *, session: Session, review_id: uuid.UUID, reason: str, moderator: str, now: datetime
) -> Review:
    """Moderation: keep a reported review, settling its reports so far (it leaves the queue
    until someone else reports it), and log the decision."""
    review = _review_for_moderation(session, review_id)
    if review.hidden_at is not None:
        raise ReviewHidden("The review is hidden already.")
    _log_decision(session, review, ModerationAction.KEPT, reason, moderator, now)
    review.reports_count = 0
    session.flush()
    return review


def _own_review(session: Session, review_id: uuid.UUID, account: Account, *, lock: bool) -> Review:
    query = select(Review).where(Review.id == review_id, Review.account_id == account.id)
    review = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if review is None:
        raise NotFound("No such review.")
    return review


def _review_for_moderation(session: Session, review_id: uuid.UUID) -> Review:
    review = session.scalars(
        select(Review).where(Review.id == review_id).with_for_update()
    ).one_or_none()
    if review is None:
        raise NotFound("No such review.")
    return review


def _log_decision(
    session: Session,
    review: Review,
    action: ModerationAction,
    reason: str,
    moderator: str,
    now: datetime,
) -> None:
    session.add(
        ReviewModeration(
            review_id=review.id,
            venue_id=review.venue_id,
            author_id=review.account_id,
            action=action,
            reason=reason,
            moderator=moderator,
            rating=review.rating,
            text=review.text,
            reports_count=review.reports_count,
            created_at=now,
        )
    )
    review.moderated_at = now


def _open_reports_by_reason(session: Session, reviews: list[Review]) -> dict:
    """{review id: {reason: count}} of the reports made since each review's last decision."""
    if not reviews:
        return {}
    since = {review.id: review.moderated_at for review in reviews}
    counts: dict = {}
    rows = session.execute(
        select(ReviewReport.review_id, ReviewReport.reason, ReviewReport.created_at).where(
            ReviewReport.review_id.in_(list(since))
        )
    )
    for review_id, reason, created_at in rows:
        settled = since[review_id]
        if settled is None or created_at > settled:
            counts.setdefault(review_id, {}).setdefault(reason, 0)
            counts[review_id][reason] += 1
    return counts


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"


def _event_data(review: Review, venue: Venue) -> dict:
    return {
        "review_id": str(review.id),
        "venue_id": str(venue.id),
        "venue_name": venue.name,
        "rating": review.rating,
    }


def _public(review, display_name: str) -> dict:
    """A review (an ORM object or a row of `statements.PUBLIC_COLUMNS`) as readers see it."""
    reply = None
    if review.reply_text is not None:
        reply = {
            "text": review.reply_text,
            "created_at": review.replied_at,
            "edited_at": review.reply_edited_at,
        }
    return {
        "id": review.id,
        "venue_id": review.venue_id,
        "author": {"display_name": display_name},
        "rating": review.rating,
        "text": review.text,
        "verified_by": review.verified_by,
        "created_at": review.created_at,
        "edited_at": review.edited_at,
        "reply": reply,
    }
