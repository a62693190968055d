"""The SQL of the share verbs: the share upsert and the once-a-day visit count."""

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from social.models import Share, ShareVisit

# A new share, or nothing when the account already shares the deal (or, rarely, the code is
# taken): no target, so both unique constraints answer DO NOTHING instead of an error.
INSERT_SHARE = (
    pg_insert(Share)
    .values(
        code=bindparam("new_code"),
        account_id=bindparam("sharer_id"),
        deal_id=bindparam("shared_deal_id"),
    )
    .on_conflict_do_nothing()
    .returning(Share)
)

# One statement: the visit row if it is the visitor's first of the day, and the counter only then.
_FIRST_VISIT = (
    pg_insert(ShareVisit)
    .values(
        share_id=bindparam("visited_share_id"),
        day=bindparam("visit_day"),
        visitor_hash=bindparam("visitor"),
    )
    .on_conflict_do_nothing()
    .returning(ShareVisit.share_id)
    .cte("first_visit")
)
COUNT_VISIT = (
    update(Share)
    .where(Share.id.in_(select(_FIRST_VISIT.c.share_id)))
    .values(visits=Share.visits + 1)
)
