"""The SQL of the deal verbs, named for what it does; built once where it can be.

Searches select plain columns (ids as text: the response wants text, and parsing UUIDs showed
in profiles) and statements built once with bind parameters.

SQLAlchemy adds every execution parameter named like a column of a table that a statement
UPDATEs (or INSERTs with VALUES) to that write, CTEs included, so a bind parameter here is
never named like one: tests/unit/test_statement_parameters.py checks each statement.

A status compared with or written to a column takes the column's type; a status that is a
CASE result has no column to take it from, and a StrEnum member would bind untyped, so those
are written as `.value` (a plain str, bound as VARCHAR).
"""

import uuid
from functools import lru_cache

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    distinct,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert

from deals.models import (
    OPEN_COMMITMENT_STATUSES,
    OPEN_STATUSES,
    OUTCOME_STATUSES,
    TIPPED_STATUSES,
    UNFINISHED_STATUSES,
    Commitment,
    CommitmentStatus,
    Deal,
    DealCommitmentMinute,
    DealParticipant,
    DealStatus,
    Voucher,
    VoucherStatus,
)
from geo.bbox import BBox
from geo.postgis import point_columns
from notifications.services import enqueue_group_insert, enqueue_insert
from referrals.statements import queue_for_credit
from social.statements import attribution_of, credit_share
from venues.models import Venue

DEAL_COLUMNS = tuple(
    column
    for column in point_columns(Deal.__table__)
    if column.key not in ("closed_at", "announced_at")
)  # not in DealReadSchema
LISTING_COLUMNS = tuple(
    column.cast(String).label(column.key) if column.type.python_type is uuid.UUID else column
    for column in DEAL_COLUMNS
)
# The venue's review counters (kept by reviews.services), joined by the venue's key: one index
# look-up per deal, so a page of deals carries `rating` without any aggregate over reviews.
VENUE_RATING_COLUMNS = (
    Venue.rating_count.label("venue_rating_count"),
    Venue.rating_sum.label("venue_rating_sum"),
)
OPEN_LISTINGS = (
    select(*LISTING_COLUMNS, *VENUE_RATING_COLUMNS)
    .join_from(Deal, Venue, Venue.id == Deal.venue_id)
    .where(Deal.status.in_(OPEN_STATUSES), Deal.ends_at > bindparam("now", type_=Deal.ends_at.type))
)
DEAL_WITH_VENUE_RATING = (
    select(Deal, *VENUE_RATING_COLUMNS)
    .join_from(Deal, Venue, Venue.id == Deal.venue_id)
    .where(Deal.id == bindparam("wanted_deal_id", type_=Deal.id.type))
)


@lru_cache(maxsize=4)
def open_listings_in_boxes(boxes: int, paged: bool) -> Select:
    """Open listings inside `boxes` envelopes (bind parameters `box{i}_*`), by id."""
    geometry = func.geometry(Deal.location)
    inside = or_(
        *[
            func.ST_Intersects(
                geometry,
                func.ST_MakeEnvelope(
                    *(bindparam(f"box{i}_{edge}", type_=Float) for edge in BBox._fields), 4326
                ),
            )
            for i in range(boxes)
        ]
    )
    query = OPEN_LISTINGS.where(inside).order_by(Deal.id).limit(bindparam("limit"))
    return query.where(Deal.id > bindparam("after", type_=Deal.id.type)) if paged else query


def merchant_deals_with_counts(merchant_id: uuid.UUID, status: str | None) -> Select:
    """The merchant's deals (of `status`, if given), each as `Deal` with its open
    `commitments`, distinct `committers`, a `vouchers_<status>` count per `VoucherStatus` and
    its venue's `VENUE_RATING_COLUMNS`."""
    open_commitments = and_(
        Commitment.deal_id == Deal.id, Commitment.status != CommitmentStatus.RELEASED
    )
    query = (
        select(
            Deal,
            select(func.count())
            .where(open_commitments)
            .correlate(Deal)
            .scalar_subquery()
            .label("commitments"),
            select(func.count(distinct(Commitment.account_id)))
            .where(open_commitments)
            .correlate(Deal)
            .scalar_subquery()
            .label("committers"),
            *(
                select(func.count())
                .where(Voucher.deal_id == Deal.id, Voucher.status == voucher_status)
                .correlate(Deal)
                .scalar_subquery()
                .label(f"vouchers_{voucher_status}")
                for voucher_status in VoucherStatus
            ),
            *VENUE_RATING_COLUMNS,
        )
        .join_from(Deal, Venue, Venue.id == Deal.venue_id)
        .where(Deal.merchant_id == merchant_id)
    )
    return query if status is None else query.where(Deal.status == status)


def commitment_changes_by_hour(deal_id: uuid.UUID) -> Select:
    """Per hour (UTC), the units committed to a deal less the units released, oldest first."""
    of_deal = Commitment.deal_id == deal_id
    made = select(
        func.date_trunc("hour", Commitment.created_at).label("hour"),
        Commitment.quantity.label("units"),
    ).where(of_deal)
    released = select(func.date_trunc("hour", Commitment.released_at), -Commitment.quantity).where(
        of_deal, Commitment.released_at.is_not(None)
    )
    changes = union_all(made, released).subquery()
    return (
        select(changes.c.hour, func.sum(changes.c.units).label("units"))
        .group_by(changes.c.hour)
        .order_by(changes.c.hour)
    )


def _vouchers_for(commitments, deal_id, redeem_until, price=None):
    """INSERT one voucher per unit of `commitments` (a CTE of id, account_id, quantity, and
    credit_cents when `price` is given: the credit applied is spread over the units in order,
    each paying at most its price); the database makes each code (the column default), so no
    unit gets one before it is accepted."""
    unit = func.generate_series(1, commitments.c.quantity).alias("unit")
    unit_number = literal_column("unit", Integer)  # a scalar function's alias is its value
    columns = ["deal_id", "commitment_id", "account_id", "redeem_until"]
    values = [deal_id, commitments.c.id, commitments.c.account_id, redeem_until]
    if price is not None:
        columns.append("credit_cents")
        values.append(
            func.least(
                price, func.greatest(0, commitments.c.credit_cents - price * (unit_number - 1))
            )
        )
    return insert(Voucher).from_select(
        columns, select(*values).select_from(commitments.join(unit, true()))
    )


def _take_units_and_record_commitment(*, paid_online: bool) -> Select:
    """Take units, join the account's open quantity, write the commitment (and its vouchers when
    the deal had tipped already) and the merchant's `commitment.created` event in one statement.

    `paid_online`: the commitment's id is the bind parameter `new_commitment_id` (its payment
    was made for it before the units were taken), and it gets no vouchers (nor a place in the
    referral queue) here: they come with its payment's capture.

    Bind parameters: commit_deal_id, committer_id, quantity, now, share_code (or None),
    shared_with (the commitment's `share`). The
    commitment is attributed (social.statements.attribution_of) and counted on the attributed
    share, and its units on the deal's minute row (`recent_commitments`). The deal and share
    ids are not named `deal_id`/`account_id`, which are columns of `shares`, which this
    statement UPDATEs (see the module docstring). No row: the deal refused the units
    (gone, not open, sold out). A row without `open_quantity`: the per-user limit refused them,
    but `taken` has written all the same (it may even have tipped the deal), so the caller must
    roll back. The deal row stays locked from this UPDATE to COMMIT, so every round trip in
    between is paid by every other committer of a hot deal: doing the whole commit in one
    statement cut the lock hold from about six round trips to one.
    """
    deal_id = bindparam("commit_deal_id", type_=Deal.id.type)
    account_id = bindparam("committer_id", type_=Commitment.account_id.type)
    quantity = bindparam("quantity", type_=Commitment.quantity.type)
    now = bindparam("now", type_=Deal.ends_at.type)
    share_code = bindparam("share_code", type_=String)
    shared_with = bindparam("shared_with", type_=Commitment.share.type)
    new_count = Deal.committed_count + quantity
    tips = and_(Deal.tipped_at.is_(None), new_count >= Deal.min_commitments)
    taken = (
        update(Deal)
        .where(
            Deal.id == deal_id,
            Deal.status.in_(UNFINISHED_STATUSES),
            Deal.starts_at <= now,
            Deal.ends_at > now,
            or_(Deal.max_commitments.is_(None), new_count <= Deal.max_commitments),
        )
        .values(
            committed_count=new_count,
            tipped_at=case((tips, now), else_=Deal.tipped_at),
            status=case(
                (tips, DealStatus.TIPPED.value),
                (Deal.status == DealStatus.SCHEDULED, DealStatus.ACTIVE.value),
                else_=Deal.status,
            ),
        )
        .returning(*DEAL_COLUMNS)
        .cte("taken")
    )
    participant = pg_insert(DealParticipant).from_select(
        ["deal_id", "account_id", "open_quantity"],
        select(deal_id, account_id, quantity).where(quantity <= taken.c.per_user_limit),
    )
    joined = (
        participant.on_conflict_do_update(
            index_elements=["deal_id", "account_id"],
            set_={
                "open_quantity": DealParticipant.open_quantity + participant.excluded.open_quantity
            },
            where=DealParticipant.open_quantity + participant.excluded.open_quantity
            <= select(taken.c.per_user_limit).scalar_subquery(),
        )
        .returning(DealParticipant.open_quantity)
        .cte("joined")
    )
    tipped_before = and_(
        taken.c.tipped_at.is_not(None),
        taken.c.committed_count - quantity >= taken.c.min_commitments,
    )
    accepted = exists(select(joined.c.open_quantity))
    attribution = attribution_of(
        deal_id=deal_id, account_id=account_id, share_code=share_code, accepted=accepted
    )
    given_id = [bindparam("new_commitment_id", type_=Commitment.id.type)] if paid_online else []
    commitment = (
        insert(Commitment)
        .from_select(
            [
                *(["id"] if paid_online else []),
                "deal_id",
                "account_id",
                "quantity",
                "status",
                "confirmed_at",
                "share_id",
                "referrer_id",
                "share",
            ],
            select(
                *given_id,
                deal_id,
                account_id,
                quantity,
                case(
                    (tipped_before, CommitmentStatus.CONFIRMED.value),
                    else_=CommitmentStatus.PENDING.value,
                ),
                case((tipped_before, now), else_=None),
                select(attribution.c.share_id).scalar_subquery(),
                select(attribution.c.referrer_id).scalar_subquery(),
                shared_with,
            ).where(accepted),
        )
        .returning(
            Commitment.id,
            Commitment.deal_id,
            Commitment.account_id,
            Commitment.quantity,
            Commitment.status,
            Commitment.created_at,
        )
        .cte("commitment")
    )
    event = enqueue_insert(
        "commitment.created",
        select(
            taken.c.merchant_id.label("recipient_id"),
            literal("New commitment").label("title"),
            (
                quantity.cast(String)
                + literal(" unit(s) of “")
                + taken.c.title
                + literal("”; ")
                + taken.c.committed_count.cast(String)
                + literal(" committed so far.")
            ).label("body"),
            func.jsonb_build_object(
                "deal_id",
                taken.c.id.cast(String),
                "title",
                taken.c.title,
                "commitment_id",
                commitment.c.id.cast(String),
                "quantity",
                quantity,
                "committed_count",
                taken.c.committed_count,
            ).label("payload"),
            (literal("commitment.created:") + commitment.c.id.cast(String)).label("event_key"),
        ).select_from(taken.join(commitment, true())),
    ).cte("event")
    written = exists(select(commitment.c.id))
    credited = credit_share(attribution, units=quantity, written=written).cte("credited")
    recent = _count_recent_units(commitment).cte("recent")
    taken_and_recorded = select(
        taken,
        joined.c.open_quantity,
        commitment.c.id.label("commitment_id"),
        commitment.c.status.label("commitment_status"),
        commitment.c.created_at.label("commitment_created_at"),
    ).select_from(taken.outerjoin(joined, true()).outerjoin(commitment, true()))
    if paid_online:
        return taken_and_recorded.add_cte(event, credited, recent)
    confirmed_now = (
        select(commitment.c.id, commitment.c.account_id, commitment.c.quantity)
        .where(commitment.c.status == CommitmentStatus.CONFIRMED)
        .cte("confirmed_now")
    )
    vouchers = _vouchers_for(
        confirmed_now, deal_id, select(taken.c.redeem_until).scalar_subquery()
    ).cte("vouchers")
    queued = queue_for_credit(
        confirmed_now, deal_id, exists(select(taken.c.id).where(taken.c.referral.is_not(None)))
    ).cte("queued")
    return taken_and_recorded.add_cte(vouchers, event, credited, recent, queued)


def _count_recent_units(commitments):
    """Add the units of `commitments` (a CTE of deal_id, created_at, quantity) to their deals'
    minute rows."""
    minute = func.date_trunc("minute", commitments.c.created_at)
    counted = pg_insert(DealCommitmentMinute).from_select(
        ["deal_id", "minute", "units"],
        select(commitments.c.deal_id, minute, commitments.c.quantity),
    )
    return counted.on_conflict_do_update(
        index_elements=["deal_id", "minute"],
        set_={"units": DealCommitmentMinute.units + counted.excluded.units},
    )


TAKE_UNITS_AND_RECORD_COMMITMENT = _take_units_and_record_commitment(paid_online=False)
TAKE_PAID_UNITS_AND_RECORD_COMMITMENT = _take_units_and_record_commitment(paid_online=True)


def confirm_pending_commitments_and_issue_vouchers(deal_id: uuid.UUID, redeem_until, now) -> Select:
    """The tip: confirm the deal's pending commitments and issue their vouchers; selects the
    accounts confirmed (one row per commitment)."""
    confirmed = (
        update(Commitment)
        .where(Commitment.deal_id == deal_id, Commitment.status == CommitmentStatus.PENDING)
        .values(status=CommitmentStatus.CONFIRMED, confirmed_at=now)
        .returning(
            Commitment.id, Commitment.account_id, Commitment.quantity, Commitment.credit_cents
        )
        .cte("confirmed")
    )
    deal = literal(deal_id, Deal.id.type)
    price = select(Deal.price_cents).where(Deal.id == deal).scalar_subquery()
    vouchers = _vouchers_for(confirmed, deal, literal(redeem_until, Deal.redeem_until.type), price)
    queued = queue_for_credit(
        confirmed, deal, exists().where(Deal.id == deal, Deal.referral.is_not(None))
    )
    return select(confirmed.c.account_id).add_cte(vouchers.cte("vouchers"), queued.cte("queued"))


def confirm_pending_commitments(deal_id: uuid.UUID, now) -> Select:
    """The tip of a deal paid online: confirm its pending commitments (their vouchers come with
    each payment's capture); selects the accounts confirmed (one row per commitment)."""
    confirmed = (
        update(Commitment)
        .where(Commitment.deal_id == deal_id, Commitment.status == CommitmentStatus.PENDING)
        .values(status=CommitmentStatus.CONFIRMED, confirmed_at=now)
        .returning(Commitment.account_id)
        .cte("confirmed")
    )
    return select(confirmed.c.account_id)


def issue_vouchers_of_paid_commitment(commitment_id: uuid.UUID) -> Select:
    """One voucher per unit of a commitment whose payment was captured, unless it has them:
    `issued` while the commitment holds, `void` if it was released meanwhile (the deal was
    cancelled while the capture ran), so every unit paid for has a voucher to refund. Issued
    ones queue the commitment for referral credit (deals with referral terms), as confirming
    does without online payments. Selects how many vouchers were issued."""
    unit = func.generate_series(1, Commitment.quantity).alias("unit")
    held = and_(Commitment.status == CommitmentStatus.CONFIRMED, Deal.status.in_(TIPPED_STATUSES))
    vouchers = (
        insert(Voucher)
        .from_select(
            ["deal_id", "commitment_id", "account_id", "redeem_until", "status"],
            select(
                Commitment.deal_id,
                Commitment.id,
                Commitment.account_id,
                Deal.redeem_until,
                case((held, VoucherStatus.ISSUED.value), else_=VoucherStatus.VOID.value),
            )
            .select_from(Commitment.__table__.join(Deal, Deal.id == Commitment.deal_id))
            .join(unit, true())
            .where(
                Commitment.id == commitment_id,
                ~exists().where(Voucher.commitment_id == Commitment.id),
            ),
        )
        .returning(Voucher.deal_id, Voucher.commitment_id, Voucher.status)
        .cte("vouchers")
    )
    issued = (
        select(vouchers.c.commitment_id.label("id"), vouchers.c.deal_id)
        .where(vouchers.c.status == VoucherStatus.ISSUED)
        .distinct()
        .cte("issued")
    )
    deal_id = select(issued.c.deal_id).scalar_subquery()
    queued = queue_for_credit(
        issued, deal_id, exists().where(Deal.id == deal_id, Deal.referral.is_not(None))
    ).cte("queued")
    return select(_count(vouchers).label("vouchers")).add_cte(queued)


def release_commitments_and_give_back_units(commitment_ids: list[uuid.UUID], now) -> Select:
    """Release open commitments (units never paid for) and give their units back: the deals'
    counters and the accounts' open quantities drop by what was released (a failed or
    cancelled deal's counter is already 0); selects how many commitments were released."""
    released = (
        update(Commitment)
        .where(
            Commitment.id == any_(bindparam("released_ids", commitment_ids, type_=ARRAY(UUID))),
            Commitment.status.in_(OPEN_COMMITMENT_STATUSES),
        )
        .values(status=CommitmentStatus.RELEASED, released_at=now)
        .returning(Commitment.deal_id, Commitment.account_id, Commitment.quantity)
        .cte("released")
    )
    per_deal = (
        select(released.c.deal_id, func.sum(released.c.quantity).label("units"))
        .group_by(released.c.deal_id)
        .cte("per_deal")
    )
    counters = (
        update(Deal)
        .where(Deal.id == per_deal.c.deal_id, Deal.status.in_((*OPEN_STATUSES, DealStatus.CLOSED)))
        .values(committed_count=Deal.committed_count - per_deal.c.units)
        .cte("counters")
    )
    per_participant = (
        select(
            released.c.deal_id,
            released.c.account_id,
            func.sum(released.c.quantity).label("units"),
        )
        .group_by(released.c.deal_id, released.c.account_id)
        .cte("per_participant")
    )
    participants = (
        update(DealParticipant)
        .where(
            DealParticipant.deal_id == per_participant.c.deal_id,
            DealParticipant.account_id == per_participant.c.account_id,
        )
        .values(open_quantity=DealParticipant.open_quantity - per_participant.c.units)
        .cte("participants")
    )
    return select(_count(released).label("released")).add_cte(counters, participants)


def release_open_commitments(deal_id: uuid.UUID, now):
    """Release every pending or confirmed commitment of a deal; returns their account ids."""
    return (
        update(Commitment)
        .where(Commitment.deal_id == deal_id, Commitment.status.in_(OPEN_COMMITMENT_STATUSES))
        .values(status=CommitmentStatus.RELEASED, released_at=now)
        .returning(Commitment.account_id)
    )


def release_pending_commitments_of(deal_id: uuid.UUID, account_id: uuid.UUID, now) -> Select:
    """Release one account's pending commitments on a deal and take their units off the deal's
    minute rows; selects their quantities."""
    released = (
        update(Commitment)
        .where(
            Commitment.deal_id == deal_id,
            Commitment.account_id == account_id,
            Commitment.status == CommitmentStatus.PENDING,
        )
        .values(status=CommitmentStatus.RELEASED, released_at=now)
        .returning(Commitment.deal_id, Commitment.quantity, Commitment.created_at)
        .cte("released")
    )
    minute = func.date_trunc("minute", released.c.created_at).label("minute")
    per_minute = (
        select(
            released.c.deal_id,
            minute,
            func.sum(released.c.quantity).label("units"),
        )
        .group_by(released.c.deal_id, minute)
        .subquery("per_minute")
    )
    uncounted = (
        update(DealCommitmentMinute)
        .where(
            DealCommitmentMinute.deal_id == per_minute.c.deal_id,
            DealCommitmentMinute.minute == per_minute.c.minute,
        )
        .values(units=DealCommitmentMinute.units - per_minute.c.units)
        .cte("uncounted")
    )
    return select(released.c.quantity).add_cte(uncounted)


def forget_participants(deal_id: uuid.UUID, account_id: uuid.UUID | None = None):
    """Drop the open quantities of a deal's participants (every one, or only `account_id`)."""
    only = [] if account_id is None else [DealParticipant.account_id == account_id]
    return delete(DealParticipant).where(DealParticipant.deal_id == deal_id, *only)


def void_issued_vouchers(deal_id: uuid.UUID):
    """Void a deal's vouchers that have not been redeemed or expired."""
    return (
        update(Voucher)
        .where(
            Voucher.deal_id == deal_id,
            Voucher.status == VoucherStatus.ISSUED,
        )
        .values(status=VoucherStatus.VOID)
    )


# ---------------------------------------------------------------------------- sweeps (deals.jobs)


def activate_started_deals(now):
    """scheduled -> active for the deals whose `starts_at` has come; returns their ids."""
    return (
        update(Deal)
        .where(Deal.status == DealStatus.SCHEDULED, Deal.starts_at <= now, Deal.ends_at > now)
        .values(status=DealStatus.ACTIVE)
        .returning(Deal.id)
    )


def mark_open_deals_announced(now):
    """Stamp `announced_at` on every open deal not yet announced; returns their ids."""
    return (
        update(Deal)
        .where(Deal.announced_at.is_(None), Deal.status.in_(OPEN_STATUSES), Deal.ends_at > now)
        .values(announced_at=now)
        .returning(Deal.id)
    )


def _count(rows, *where):
    return select(func.count()).select_from(rows).where(*where).scalar_subquery()


def close_or_fail_ended_deals(now) -> Select:
    """At `ends_at`: tipped -> closed, active (or never activated) -> failed, in one UPDATE that
    decides each deal's fate once; selects how many `closed` and `failed`. Commitments and
    events are left to `release_failed_deals_commitments_and_tell_outcomes` (a later snapshot)."""
    outcomes = (
        update(Deal)
        .where(Deal.status.in_(UNFINISHED_STATUSES), Deal.ends_at <= now)
        .values(
            status=case(
                (Deal.status == DealStatus.TIPPED, DealStatus.CLOSED.value),
                else_=DealStatus.FAILED.value,
            ),
            committed_count=case((Deal.status == DealStatus.TIPPED, Deal.committed_count), else_=0),
            closed_at=now,
        )
        .returning(Deal.status)
        .cte("outcomes")
    )
    return select(
        _count(outcomes, outcomes.c.status == DealStatus.CLOSED).label("closed"),
        _count(outcomes, outcomes.c.status == DealStatus.FAILED).label("failed"),
    )


def _outcome_rows(kind: str, deals, recipient_ids, title: str, body: str) -> Select:
    """The group event rows of a deal outcome from `deals` (id, title, committed_count):
    `recipient_ids`, title, body, payload, event_key."""
    return select(
        recipient_ids.label("recipient_ids"),
        literal(title).label("title"),
        (literal(body) + deals.c.title + literal("”")).label("body"),
        func.jsonb_build_object(
            "deal_id",
            deals.c.id.cast(String),
            "title",
            deals.c.title,
            "committed_count",
            deals.c.committed_count,
        ).label("payload"),
        (literal(f"{kind}:") + deals.c.id.cast(String)).label("event_key"),
    )


def _closed_events(ended):
    """The INSERT of `deal.closed` once per closed deal, for its merchant and confirmed committers."""
    # Each deal's audience through the (deal_id) index one deal at a time: a union over all the
    # deals at once was hashed, sorted and spilled to disk before grouping.
    audience = (
        select(ended.c.merchant_id)
        .correlate(ended)
        .union(
            select(Commitment.account_id)
            .where(
                Commitment.deal_id == ended.c.id, Commitment.status == CommitmentStatus.CONFIRMED
            )
            .correlate(ended)
        )
        .scalar_subquery()
    )
    rows = _outcome_rows(
        "deal.closed", ended, func.array(audience), "Deal closed", "Your vouchers are ready: “"
    ).where(ended.c.status == DealStatus.CLOSED)
    return enqueue_group_insert("deal.closed", rows).cte("closed_events")


def _failed_events(ended, released):
    """The INSERT of `deal.failed` once per failed deal, for its merchant and exactly the
    committers `released` (the release's RETURNING, so no one is told who was not released)."""
    committers = (
        select(released.c.deal_id, func.array_agg(released.c.account_id.distinct()).label("ids"))
        .group_by(released.c.deal_id)
        .cte("committers")
    )
    rows = (
        _outcome_rows(
            "deal.failed",
            ended,
            func.array_prepend(ended.c.merchant_id, committers.c.ids),
            "Deal did not tip",
            "Not enough people committed; nothing is charged: “",
        )
        .select_from(ended.outerjoin(committers, committers.c.deal_id == ended.c.id))
        .where(ended.c.status == DealStatus.FAILED)
    )
    return enqueue_group_insert("deal.failed", rows).cte("failed_events")


def release_failed_deals_commitments_and_tell_outcomes(now) -> Select:
    """For the deals `close_or_fail_ended_deals(now)` ended (found by `closed_at`): release the
    failed ones' commitments and enqueue each outcome's group event; selects
    `released_commitments` and `events`."""
    ended = (
        select(Deal.id, Deal.status, Deal.merchant_id, Deal.title, Deal.committed_count)
        .where(Deal.closed_at == now, Deal.status.in_(OUTCOME_STATUSES))
        .cte("ended")
    )
    # An array of the failed ids rather than a join, so each deal's commitments are found
    # through the (deal_id) index whatever the planner guesses the CTE's size to be.
    failed_ids = any_(
        func.array(select(ended.c.id).where(ended.c.status == DealStatus.FAILED).scalar_subquery())
    )
    released = (
        update(Commitment)
        .where(Commitment.deal_id == failed_ids, Commitment.status == CommitmentStatus.PENDING)
        .values(status=CommitmentStatus.RELEASED, released_at=now)
        .returning(Commitment.deal_id, Commitment.account_id)
        .cte("released")
    )
    participants = (
        delete(DealParticipant).where(DealParticipant.deal_id == failed_ids).cte("participants")
    )
    failed_events, closed_events = _failed_events(ended, released), _closed_events(ended)
    return select(
        _count(released).label("released_commitments"),
        (_count(failed_events) + _count(closed_events)).label("events"),
    ).add_cte(participants)


def ending_soon_reminders(now, lead) -> Select:
    """The `deal.ending_soon` event rows: one per committer of each active deal ending within
    `lead` that has not tipped."""
    units_needed = Deal.min_commitments - Deal.committed_count
    return (
        select(
            Commitment.account_id.label("recipient_id"),
            literal("A deal you joined ends soon").label("title"),
            (
                literal("“")
                + Deal.title
                + literal("” still needs ")
                + units_needed.cast(String)
                + literal(" unit(s) to tip.")
            ).label("body"),
            func.jsonb_build_object(
                "deal_id",
                Deal.id.cast(String),
                "title",
                Deal.title,
                "units_needed",
                units_needed,
                "ends_at",
                Deal.ends_at,
            ).label("payload"),
            (literal("deal.ending_soon:") + Deal.id.cast(String)).label("event_key"),
        )
        .join(Deal, Deal.id == Commitment.deal_id)
        .where(
            Deal.status == DealStatus.ACTIVE,
            Deal.ends_at > now,
            Deal.ends_at <= now + lead,
            Commitment.status == CommitmentStatus.PENDING,
        )
        .distinct()
    )


def expire_issued_vouchers(now):
    """issued -> expired once `redeem_until` has passed; returns their ids and credit."""
    return (
        update(Voucher)
        .where(
            Voucher.status == VoucherStatus.ISSUED,
            Voucher.redeem_until < now,
        )
        .values(status=VoucherStatus.EXPIRED)
        .returning(Voucher.id, Voucher.credit_cents)
    )


# ----------------------------------------------------------------- visits (reviews.statements)


def redeemed_voucher_at_venue(account_id, venue_id, since):
    """EXISTS a voucher of a deal at the venue that the account redeemed at `since` or later,
    from ix_vouchers_account_redeemed: one probe per deal of the venue, or the account's
    redemptions, whichever the planner finds fewer (never a deal's every voucher)."""
    return exists().where(
        Voucher.account_id == account_id,
        Voucher.status == VoucherStatus.REDEEMED,
        Voucher.redeemed_at >= since,
        Deal.id == Voucher.deal_id,
        Deal.venue_id == venue_id,
    )
