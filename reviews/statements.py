"""The SQL of the review verbs: the visit look-up, the one-per-venue insert, the list's orders.

Bind parameters are never named like a column of a table a statement writes (see
deals.statements and tests/unit/test_statement_parameters.py).
"""

from sqlalchemy import Date, DateTime, Integer, Select, Uuid, bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.models import Account
from checkins.statements import counted_checkin_at_venue
from deals.statements import redeemed_voucher_at_venue
from reviews.models import Review, ReviewReport

_VISITOR = bindparam("visitor_id", type_=Uuid)
_VISITED = bindparam("visited_venue_id", type_=Uuid)
_SINCE = bindparam("since", type_=DateTime(timezone=True))

# Which proofs of a visit the account has at the venue since `since`: two index range scans.
VERIFIED_VISITS = select(
    redeemed_voucher_at_venue(_VISITOR, _VISITED, _SINCE).label("voucher"),
    counted_checkin_at_venue(_VISITOR, _VISITED, _SINCE, bindparam("since_day", type_=Date)).label(
        "checkin"
    ),
)

# The review, or nothing when the account has reviewed the venue already (also concurrently:
# the unique constraint decides, the loser waits for the winner's commit and inserts nothing).
INSERT_REVIEW = (
    pg_insert(Review)
    .values(
        venue_id=bindparam("reviewed_venue_id"),
        account_id=bindparam("author_id"),
        rating=bindparam("stars"),
        text=bindparam("words"),
        verified_by=bindparam("proof"),
        created_at=bindparam("written_at"),
    )
    .on_conflict_do_nothing(constraint="uq_reviews_account_venue")
    .returning(Review)
)

# One report per account and review; a repeat inserts nothing (and counts nothing).
INSERT_REPORT = (
    pg_insert(ReviewReport)
    .values(
        review_id=bindparam("reported_review_id"),
        account_id=bindparam("reporter_id"),
        reason=bindparam("why"),
        detail=bindparam("details"),
        created_at=bindparam("reported_at"),
    )
    .on_conflict_do_nothing()
    .returning(ReviewReport)
)

COUNT_REPORT = (
    update(Review)
    .where(Review.id == bindparam("counted_review_id"))
    .values(reports_count=Review.reports_count + 1, last_reported_at=bindparam("reported_at"))
)

# What a reader sees of a review: its columns and the author's display name, nothing else.
PUBLIC_COLUMNS = (
    Review.id,
    Review.venue_id,
    Review.rating,
    Review.text,
    Review.verified_by,
    Review.created_at,
    Review.edited_at,
    Review.reply_text,
    Review.replied_at,
    Review.reply_edited_at,
    Account.display_name,
)
WITH_AUTHOR = select(*PUBLIC_COLUMNS).join(Account, Account.id == Review.account_id)

# Each order is (key columns, all descending): a backward scan of its partial index.
SORT_KEYS = {
    "newest": (Review.created_at, Review.id),
    "highest": (Review.rating, Review.created_at, Review.id),
    "lowest": (-Review.rating, Review.created_at, Review.id),
}


def visible_reviews_of_venue(sort: str, paged: bool) -> Select:
    """A venue's visible reviews in `sort` order (bind parameters `listed_venue_id`, `limit`,
    and `after_0`.. the cursor's key when `paged`)."""
    keys = SORT_KEYS[sort]
    query = (
        WITH_AUTHOR.where(
            Review.venue_id == bindparam("listed_venue_id"), Review.hidden_at.is_(None)
        )
        .order_by(*(key.desc() for key in keys))
        .limit(bindparam("limit", type_=Integer))
    )
    if paged:
        after = [bindparam(f"after_{i}", type_=key.type) for i, key in enumerate(keys)]
        query = query.where(tuple_(*keys) < tuple_(*after))
    return query


LISTINGS = {
    (sort, paged): visible_reviews_of_venue(sort, paged)
    for sort in SORT_KEYS
    for paged in (False, True)
}
