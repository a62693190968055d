"""Deal verbs: create, change, cancel, search, commit, withdraw, redeem.

Each runs in the caller's unit of work (core.db.unit_of_work): it flushes and raises, and the
edge commits once or rolls back. The verbs come first, their private helpers after; the SQL is
in `deals.statements`.
"""

import uuid
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from accounts.models import Account
from core.codes import normalise_code, refuse_redemption
from core.db import any_of, newest_first
from core.errors import NotFound, ValidationFailed
from deals import statements
from deals.alerts import alert_nearby, enters_about_to_tip
from deals.errors import (
    DealHasCommitments,
    DealNotOpen,
    DealTipped,
    PerUserLimit,
    SoldOut,
    VoucherRefunded,
)
from deals.models import (
    TIPPED_STATUSES,
    UNFINISHED_STATUSES,
    Commitment,
    CommitmentStatus,
    Deal,
    DealStatus,
    Voucher,
    VoucherStatus,
)
from deals.rules import TERMS, initial_status, term_errors, with_defaults
from geo.bbox import BBox, split_at_antimeridian
from geo.postgis import located, nearest_first
from notifications.services import enqueue
from referrals.services import redeem_credit_of_voucher
from social.models import Audience
from venues.models import rating_of
from venues.services import get_owned_venue

TEXT_FIELDS = frozenset({"title", "description"})


def get_deal(*, session: Session, deal_id: uuid.UUID) -> Deal:
    """A deal by id, with its venue's `rating`; 404 if there is none."""
    found = session.execute(
        statements.DEAL_WITH_VENUE_RATING, {"wanted_deal_id": deal_id}
    ).one_or_none()
    if found is None:
        raise NotFound("No such deal.")
    deal = found.Deal
    deal.rating = rating_of(found.venue_rating_count, found.venue_rating_sum)
    return deal


def create_deal(
    *, session: Session, merchant: Account, venue_id: uuid.UUID, now: datetime, **terms
) -> Deal:
    """Create a deal at one of the merchant's venues (location copied from the venue)."""
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant)
    terms = with_defaults(terms, now)
    errors = term_errors(terms, now)
    if errors:
        raise ValidationFailed(errors)
    status = initial_status(terms["starts_at"], now)
    deal = Deal(
        venue_id=venue.id,
        merchant_id=merchant.id,
        location=venue.location,
        status=status,
        announced_at=now if status == DealStatus.ACTIVE else None,
        **terms,
    )
    session.add(deal)
    session.flush()
    if status == DealStatus.ACTIVE:
        alert_nearby(session, deal_filter=Deal.id == deal.id, reason="opened", now=now)
    session.flush()
    session.refresh(deal)
    return deal


def update_deal(
    *, session: Session, deal_id: uuid.UUID, merchant: Account, now: datetime, **changes
) -> Deal:
    """Change a deal: title/description any time, other terms only before the first commitment."""
    deal = _owned_deal(session, deal_id, merchant)
    term_changes = {k: v for k, v in changes.items() if k not in TEXT_FIELDS}
    if term_changes:
        if session.scalar(select(exists().where(Commitment.deal_id == deal.id))):
            raise DealHasCommitments(
                "People have committed; only title and description can change."
            )
        if deal.status not in (DealStatus.SCHEDULED, DealStatus.ACTIVE):
            raise DealNotOpen(f"The deal is {deal.status}; its terms can no longer change.")
        current = {name: getattr(deal, name) for name in TERMS}
        merged = {**current, **term_changes}
        errors = term_errors(merged, now)
        if errors:
            raise ValidationFailed(errors)
        deal.status = initial_status(merged["starts_at"], now)
    for name, value in changes.items():
        setattr(deal, name, value)
    session.flush()
    session.refresh(deal)
    return deal


def cancel_deal(*, session: Session, deal_id: uuid.UUID, merchant: Account, now: datetime) -> Deal:
    """Cancel an unfinished deal: release commitments, void vouchers, tell the committers."""
    deal = _owned_deal(session, deal_id, merchant)
    if deal.status not in UNFINISHED_STATUSES or deal.ends_at <= now:
        raise DealNotOpen(f"The deal has ended ({deal.status}); it can no longer be cancelled.")
    committers = _release_all(session, deal, now)
    session.execute(statements.void_issued_vouchers(deal.id))
    deal.status, deal.committed_count, deal.closed_at = DealStatus.CANCELLED, 0, now
    _deal_event(
        session,
        "deal.cancelled",
        deal.id,
        deal.title,
        committers,
        "Deal cancelled",
        f"“{deal.title}” was cancelled by the merchant; your commitment is released.",
        f"deal.cancelled:{deal.id}",
    )
    session.flush()
    session.refresh(deal)
    return deal


def nearby_deals(
    *,
    session: Session,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    now: datetime,
    after: tuple[float, uuid.UUID] | None = None,
) -> list[dict]:
    """Open deals within `radius_m`, nearest first (ties by id), each with `distance_m`."""
    found = nearest_first(
        session,
        statements.OPEN_LISTINGS,
        Deal.location,
        Deal.id,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        limit=limit,
        after=after,
        params={"now": now},
    )
    return [_listing(row, distance_m=metres) for row, metres in found]


def deals_in_bbox(
    *,
    session: Session,
    bbox: BBox,
    limit: int,
    now: datetime,
    after: uuid.UUID | None = None,
) -> list[dict]:
    """Open deals inside a lat/lon viewport (split at the antimeridian when it crosses it), by id."""
    boxes = split_at_antimeridian(bbox)
    values = {"now": now, "limit": limit, "after": after}
    for i, box in enumerate(boxes):
        values.update({f"box{i}_{edge}": value for edge, value in box._asdict().items()})
    statement = statements.open_listings_in_boxes(len(boxes), after is not None)
    return [_listing(row) for row in session.connection().execute(statement, values)]


def merchant_deals(
    *,
    session: Session,
    merchant: Account,
    limit: int,
    status: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Deal]:
    """The merchant's deals, newest first, with commitment and voucher counts."""
    query = statements.merchant_deals_with_counts(merchant.id, status).limit(limit)
    deals = []
    for row in session.execute(newest_first(query, Deal.created_at, Deal.id, after)):
        deal = row.Deal
        deal.commitments, deal.committers = row.commitments, row.committers
        deal.vouchers = {status: row._mapping[f"vouchers_{status}"] for status in VoucherStatus}
        deal.rating = rating_of(row.venue_rating_count, row.venue_rating_sum)
        deals.append(deal)
    return deals


def get_owned_deal(*, session: Session, deal_id: uuid.UUID, merchant: Account) -> Deal:
    """One of the merchant's deals; 404 for anyone else's (its existence is not revealed)."""
    return _owned_deal(session, deal_id, merchant, lock=False)


def owned_deals_by_id(*, session: Session, merchant: Account, deal_ids) -> list[Deal]:
    """The merchant's deals among `deal_ids` (others' are left out), as they stand now."""
    query = select(Deal).where(any_of(Deal.id, list(deal_ids)), Deal.merchant_id == merchant.id)
    return list(session.scalars(query))


def commitment_timeline(
    *, session: Session, deal_id: uuid.UUID, merchant: Account
) -> list[tuple[datetime, int]]:
    """The units one of the merchant's deals held over time: per hour, the units committed less
    those released, oldest first (their running sum is the deal's `committed_count`)."""
    deal = get_owned_deal(session=session, deal_id=deal_id, merchant=merchant)
    rows = session.execute(statements.commitment_changes_by_hour(deal.id))
    return [(row.hour, int(row.units)) for row in rows]


def commit_units(
    *,
    session: Session,
    deal_id: uuid.UUID,
    account: Account,
    quantity: int,
    now: datetime,
    share_code: str | None = None,
    paid_commitment_id: uuid.UUID | None = None,
    share: str = Audience.PRIVATE,
) -> tuple[Commitment, dict]:
    """Take `quantity` units with one conditional UPDATE; tip exactly once; issue vouchers;
    attribute the commitment to the share behind `share_code` when the rules allow it; `share`
    says whether the account's friends see it.

    `paid_commitment_id`: the units are paid online by a payment made for a commitment of this
    id; their vouchers wait for its capture (so do those of every commitment confirmed at a tip
    this causes: a deal's commitments are all paid online or none is).
    """
    values = {
        "commit_deal_id": deal_id,
        "committer_id": account.id,
        "quantity": quantity,
        "now": now,
        "share_code": share_code.upper() if share_code else None,
        "shared_with": share,
    }
    if paid_commitment_id is None:
        statement = statements.TAKE_UNITS_AND_RECORD_COMMITMENT
    else:
        statement = statements.TAKE_PAID_UNITS_AND_RECORD_COMMITMENT
        values["new_commitment_id"] = paid_commitment_id
    taken = session.execute(statement, values).one_or_none()
    if taken is None:  # no unit taken, so the statement wrote nothing
        _explain_refusal(session, deal_id, quantity, now)
    if taken.open_quantity is None:
        # Load-bearing: the `taken` CTE has written (raised committed_count, maybe tipped the deal)
        # although the per-user upsert refused. Raising makes the edge roll all of it back; a
        # caller that caught this and committed would keep units nobody holds.
        raise PerUserLimit(f"At most {taken.per_user_limit} unit(s) per account on this deal.")
    deal = _listing(taken)
    commitment = Commitment(
        id=taken.commitment_id,
        deal_id=deal_id,
        quantity=quantity,
        status=taken.commitment_status,
        created_at=taken.commitment_created_at,
        share=share,
    )
    if taken.committed_count - quantity < taken.min_commitments <= taken.committed_count:
        _confirm_at_tip(session, deal_id, deal, now, vouchers=paid_commitment_id is None)
        commitment.status = CommitmentStatus.CONFIRMED
    if enters_about_to_tip(
        deal["min_commitments"], deal["committed_count"] - quantity, deal["committed_count"]
    ):
        alert_nearby(session, deal_filter=Deal.id == deal_id, reason="about_to_tip", now=now)
    session.flush()
    return commitment, deal


def withdraw(
    *, session: Session, deal_id: uuid.UUID, account: Account, now: datetime
) -> tuple[int, Deal]:
    """Release the account's pending commitments on a deal that has not tipped."""
    deal = session.scalars(select(Deal).where(Deal.id == deal_id).with_for_update()).one_or_none()
    if deal is None:
        raise NotFound("No such deal.")
    if deal.status in TIPPED_STATUSES:
        raise DealTipped("The deal has tipped; your vouchers are issued.")
    released = sum(
        session.execute(
            statements.release_pending_commitments_of(deal.id, account.id, now)
        ).scalars()
    )
    if released:
        deal.committed_count -= released
        session.execute(statements.forget_participants(deal.id, account.id))
    session.flush()
    session.refresh(deal)
    return released, deal


def my_commitments(
    *, session: Session, account: Account, limit: int, after=None
) -> list[Commitment]:
    """The account's commitments, newest first."""
    query = select(Commitment).where(Commitment.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Commitment.created_at, Commitment.id, after)))


def my_vouchers(*, session: Session, account: Account, limit: int, after=None) -> list[Voucher]:
    """The account's vouchers, newest first."""
    query = select(Voucher).where(Voucher.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Voucher.created_at, Voucher.id, after)))


def issue_paid_vouchers(*, session: Session, commitment_id: uuid.UUID) -> int:
    """The vouchers of a commitment whose payment was just captured (once); how many."""
    return session.execute(statements.issue_vouchers_of_paid_commitment(commitment_id)).scalar_one()


def release_unpaid_commitments(
    *, session: Session, commitment_ids: list[uuid.UUID], now: datetime
) -> int:
    """Release commitments whose units were never paid for, giving their units back to their
    deals; how many were released."""
    if not commitment_ids:
        return 0
    statement = statements.release_commitments_and_give_back_units(commitment_ids, now)
    return session.execute(statement).scalar_one()


def redeem_voucher(*, session: Session, code: str, merchant: Account, now: datetime) -> Voucher:
    """Redeem a voucher of one of the merchant's deals, once; 404 for anyone else's."""
    canonical = normalise_code(code)
    owned = exists().where(Deal.id == Voucher.deal_id, Deal.merchant_id == merchant.id)
    voucher = (
        session.scalars(
            select(Voucher).where(Voucher.code == canonical, owned).with_for_update()
        ).one_or_none()
        if canonical
        else None
    )
    if voucher is None:
        raise NotFound("No such voucher.")
    if voucher.status == VoucherStatus.REFUNDED:
        raise VoucherRefunded("This voucher was refunded.")
    refuse_redemption(status=voucher.status, valid_until=voucher.redeem_until, now=now)
    voucher.status, voucher.redeemed_at = VoucherStatus.REDEEMED, now
    deal = session.get(Deal, voucher.deal_id)
    redeem_credit_of_voucher(
        session=session, voucher=voucher, merchant_id=merchant.id, currency=deal.currency, now=now
    )
    _deal_event(
        session,
        "voucher.redeemed",
        deal.id,
        deal.title,
        [merchant.id, voucher.account_id],
        "Voucher redeemed",
        f"A voucher for “{deal.title}” was redeemed.",
        f"voucher.redeemed:{voucher.id}",
        code=voucher.code,
    )
    session.flush()
    return voucher


def _deal_event(
    session: Session,
    kind: str,
    deal_id: uuid.UUID,
    deal_title: str,
    recipients,
    title: str,
    body: str,
    event_key: str,
    **payload,
) -> None:
    enqueue(
        session,
        kind=kind,
        recipients=recipients,
        title=title,
        body=body,
        payload={"deal_id": str(deal_id), "title": deal_title, **payload},
        dedupe_key=event_key,
    )


def _owned_deal(session: Session, deal_id: uuid.UUID, merchant: Account, lock: bool = True) -> Deal:
    query = select(Deal).where(Deal.id == deal_id, Deal.merchant_id == merchant.id)
    deal = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if deal is None:
        raise NotFound("No such deal.")
    return deal


def _release_all(session: Session, deal: Deal, now: datetime) -> list[uuid.UUID]:
    """Release every open commitment of a deal; returns the distinct accounts affected."""
    released = session.execute(statements.release_open_commitments(deal.id, now)).scalars().all()
    session.execute(statements.forget_participants(deal.id))
    return list(dict.fromkeys(released))


def _listing(row, **extra) -> dict:
    """A deal row (`statements.DEAL_COLUMNS` or `LISTING_COLUMNS`, with `VENUE_RATING_COLUMNS`
    in the listings) as the mapping `DealReadSchema` (or `DealListingSchema`) dumps."""
    item = located(row, **extra)
    cap = item["max_commitments"]
    item["remaining"] = None if cap is None else cap - item["committed_count"]
    if "venue_rating_count" in item:
        item["rating"] = rating_of(item.pop("venue_rating_count"), item.pop("venue_rating_sum"))
    return item


def _explain_refusal(session: Session, deal_id: uuid.UUID, quantity: int, now: datetime) -> None:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("No such deal.")
    if deal.status not in UNFINISHED_STATUSES or deal.starts_at > now or deal.ends_at <= now:
        raise DealNotOpen("The deal is not open for commitments.")
    raise SoldOut(f"Only {deal.remaining} unit(s) left; you asked for {quantity}.")


def _confirm_at_tip(
    session: Session, deal_id: uuid.UUID, deal: dict, now: datetime, *, vouchers: bool
) -> None:
    """The tip: confirm every pending commitment, issue its vouchers (unless they wait for
    payments), tell committers and merchant."""
    confirm = (
        statements.confirm_pending_commitments_and_issue_vouchers(
            deal_id, deal["redeem_until"], now
        )
        if vouchers
        else statements.confirm_pending_commitments(deal_id, now)
    )
    committers = session.execute(confirm).scalars().all()
    _deal_event(
        session,
        "deal.tipped",
        deal_id,
        deal["title"],
        [*committers, deal["merchant_id"]],
        "Deal tipped!",
        f"“{deal['title']}” reached {deal['min_commitments']} commitments: it's on.",
        f"deal.tipped:{deal_id}",
        committed_count=deal["committed_count"],
    )
