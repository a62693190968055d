"""The SQL of the share verbs: the share upsert, the once-a-day visit count, and the
attribution a commitment statement (deals.statements) joins."""

from sqlalchemy import DateTime, Select, Uuid, bindparam, func, select, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from deals.models import DealCommitmentMinute, DealParticipant
from social.models import Referral, Share, ShareVisit

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


def attribution_of(*, deal_id, account_id, share_code, accepted):
    """The CTE `attribution` (share_id, referrer_id) of a commitment: the account's referral on
    the deal if it has one, else the share behind `share_code` when that is another account's
    share of the same deal, recorded as the referral. First attribution wins, also between
    concurrent commits: the referral's primary key makes the later insert return the earlier row.

    `accepted` is a condition true when the commitment is written; no referral is recorded
    for refused units.
    """
    offered = select(deal_id, account_id, Share.id, Share.account_id).where(
        Share.code == share_code,
        Share.deal_id == deal_id,
        Share.account_id != account_id,
        accepted,
    )
    recorded = pg_insert(Referral).from_select(
        ["deal_id", "account_id", "share_id", "referrer_id"], offered
    )
    referral = (
        recorded.on_conflict_do_update(
            index_elements=["deal_id", "account_id"],
            # A no-op write, so RETURNING gives the earlier referral's row.
            set_={"share_id": Referral.share_id},
        )
        .returning(Referral.share_id, Referral.referrer_id)
        .cte("referral")
    )
    earlier = select(Referral.share_id, Referral.referrer_id).where(
        Referral.deal_id == deal_id, Referral.account_id == account_id
    )
    return (
        union_all(select(referral.c.share_id, referral.c.referrer_id), earlier)
        .limit(1)
        .cte("attribution")
    )


def credit_share(attribution, *, units, written):
    """The UPDATE counting one commitment of `units` on the attributed share, if `written`."""
    return (
        update(Share)
        .where(Share.id == select(attribution.c.share_id).scalar_subquery(), written)
        .values(commitments=Share.commitments + 1, units=Share.units + units)
    )


def _social_proof() -> Select:
    """Per deal of `deal_ids`: the units committed since `since` (the deal's minute rows, at
    most an hour of them) and, for `viewer_id` (or None), its open quantity and its share code.
    Each part is a primary-key lookup, so a page of deals costs one small query."""
    deal_ids = bindparam("deal_ids", type_=ARRAY(Uuid()))
    viewer_id = bindparam("viewer_id", type_=Uuid())
    since = bindparam("since", type_=DateTime(timezone=True))
    page = func.unnest(deal_ids).table_valued("id").render_derived(name="page")
    recent = (
        select(func.coalesce(func.sum(DealCommitmentMinute.units), 0))
        .where(DealCommitmentMinute.deal_id == page.c.id, DealCommitmentMinute.minute > since)
        .scalar_subquery()
    )
    committed = (
        select(DealParticipant.open_quantity)
        .where(DealParticipant.deal_id == page.c.id, DealParticipant.account_id == viewer_id)
        .scalar_subquery()
    )
    share_code = (
        select(Share.code)
        .where(Share.deal_id == page.c.id, Share.account_id == viewer_id)
        .scalar_subquery()
    )
    return select(
        page.c.id.label("deal_id"),
        recent.label("recent_commitments"),
        committed.label("committed_quantity"),
        share_code.label("share_code"),
    )


SOCIAL_PROOF = _social_proof()
