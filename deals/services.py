"""Deal verbs: create, change, cancel, search, commit, withdraw, redeem.

Each runs in the caller's unit of work (core.db.unit_of_work): it flushes and raises, and the
edge commits once or rolls back.
"""
import uuid
from datetime import datetime
from functools import lru_cache

from sqlalchemy import (
    Float, Select, String, and_, bindparam, case, delete, distinct, exists, func, insert,
    literal, or_, select, true, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from accounts.models import Account
from core.codes import normalise_code, refuse_redemption
from core.db import newest_first
from core.errors import NotFound, ValidationFailed
from deals.alerts import alert_nearby, enters_about_to_tip
from deals.errors import DealHasCommitments, DealNotOpen, DealTipped, PerUserLimit, SoldOut
from deals.models import OPEN_STATUSES, Commitment, Deal, DealParticipant, Voucher
from deals.rules import initial_status, term_errors, with_defaults
from geo.bbox import BBox, split_at_antimeridian
from geo.postgis import located, nearest_first, point_columns
from notifications.services import enqueue, enqueue_insert
from venues.services import get_owned_venue

TEXT_FIELDS = frozenset({"title", "description"})
COMMITTABLE_STATUSES = ("scheduled", "active", "tipped")


def _deal_event(session: Session, kind: str, deal_id: uuid.UUID, deal_title: str, recipients,
                title: str, body: str, event_key: str, **payload) -> None:
    enqueue(session, kind=kind, recipients=recipients, title=title, body=body,
            payload={"deal_id": str(deal_id), "title": deal_title, **payload},
            dedupe_key=event_key)


def get_deal(*, session: Session, deal_id: uuid.UUID) -> Deal:
    """A deal by id; 404 if there is none."""
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("No such deal.")
    return deal


def _owned_deal(session: Session, deal_id: uuid.UUID, merchant: Account) -> Deal:
    deal = session.scalars(
        select(Deal).where(Deal.id == deal_id, Deal.merchant_id == merchant.id).with_for_update()
    ).one_or_none()
    if deal is None:
        raise NotFound("No such deal.")
    return deal


def create_deal(*, session: Session, merchant: Account, venue_id: uuid.UUID, now: datetime, **terms) -> Deal:
    """Create a deal at one of the merchant's venues (location copied from the venue)."""
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant)
    terms = with_defaults(terms, now)
    errors = term_errors(terms, now)
    if errors:
        raise ValidationFailed(errors)
    status = initial_status(terms["starts_at"], now)
    deal = Deal(
        venue_id=venue.id, merchant_id=merchant.id, location=venue.location, status=status,
        announced_at=now if status == "active" else None, **terms,
    )
    session.add(deal)
    session.flush()
    if status == "active":
        alert_nearby(session, deal_filter=Deal.id == deal.id, reason="opened", now=now)
    session.flush()
    session.refresh(deal)
    return deal


def update_deal(*, session: Session, deal_id: uuid.UUID, merchant: Account, now: datetime, **changes) -> Deal:
    """Change a deal: title/description any time, other terms only before the first commitment."""
    deal = _owned_deal(session, deal_id, merchant)
    term_changes = {k: v for k, v in changes.items() if k not in TEXT_FIELDS}
    if term_changes:
        if session.scalar(select(exists().where(Commitment.deal_id == deal.id))):
            raise DealHasCommitments("People have committed; only title and description can change.")
        if deal.status not in ("scheduled", "active"):
            raise DealNotOpen(f"The deal is {deal.status}; its terms can no longer change.")
        current = {name: getattr(deal, name) for name in (
            "price_cents", "original_price_cents", "currency", "min_commitments",
            "max_commitments", "per_user_limit", "starts_at", "ends_at", "redeem_until")}
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


def _release_all(session: Session, deal: Deal, now: datetime) -> list[uuid.UUID]:
    """Release every open commitment of a deal; returns the distinct accounts affected."""
    released = session.execute(
        update(Commitment)
        .where(Commitment.deal_id == deal.id, Commitment.status.in_(("pending", "confirmed")))
        .values(status="released", released_at=now)
        .returning(Commitment.account_id)
    ).scalars().all()
    session.execute(delete(DealParticipant).where(DealParticipant.deal_id == deal.id))
    return list(dict.fromkeys(released))


def cancel_deal(*, session: Session, deal_id: uuid.UUID, merchant: Account, now: datetime) -> Deal:
    """Cancel an unfinished deal: release commitments, void vouchers, tell the committers."""
    deal = _owned_deal(session, deal_id, merchant)
    if deal.status not in COMMITTABLE_STATUSES or deal.ends_at <= now:
        raise DealNotOpen(f"The deal has ended ({deal.status}); it can no longer be cancelled.")
    committers = _release_all(session, deal, now)
    session.execute(
        update(Voucher).where(Voucher.deal_id == deal.id, Voucher.status == "issued").values(status="void")
    )
    deal.status, deal.committed_count, deal.closed_at = "cancelled", 0, now
    _deal_event(session, "deal.cancelled", deal.id, deal.title, committers, "Deal cancelled",
                f"“{deal.title}” was cancelled by the merchant; your commitment is released.",
                f"deal.cancelled:{deal.id}")
    session.flush()
    session.refresh(deal)
    return deal


# Searches select plain columns (ids as text: the response wants text, and parsing UUIDs showed
# in profiles) and statements built once with bind parameters.
DEAL_COLUMNS = tuple(column for column in point_columns(Deal.__table__)
                     if column.key not in ("closed_at", "announced_at"))  # not in DealReadSchema
LISTING_COLUMNS = tuple(
    column.cast(String).label(column.key) if column.type.python_type is uuid.UUID else column
    for column in DEAL_COLUMNS
)
OPEN_LISTINGS = select(*LISTING_COLUMNS).where(
    Deal.status.in_(OPEN_STATUSES), Deal.ends_at > bindparam("now", type_=Deal.ends_at.type)
)


def _listing(row, **extra) -> dict:
    """A deal row (DEAL_COLUMNS or LISTING_COLUMNS) as the mapping `DealReadSchema` dumps."""
    item = located(row, **extra)
    cap = item["max_commitments"]
    item["remaining"] = None if cap is None else cap - item["committed_count"]
    return item


def nearby_deals(
    *, session: Session, lat: float, lon: float, radius_m: float, limit: int, now: datetime,
    after: tuple[float, uuid.UUID] | None = None,
) -> list[dict]:
    """Open deals within `radius_m`, nearest first (ties by id), each with `distance_m`."""
    found = nearest_first(
        session, OPEN_LISTINGS, Deal.location, Deal.id, lat=lat, lon=lon, radius_m=radius_m,
        limit=limit, after=after, params={"now": now},
    )
    return [_listing(row, distance_m=metres) for row, metres in found]


@lru_cache(maxsize=4)
def _viewport_statement(boxes: int, paged: bool) -> Select:
    """Open listings inside `boxes` envelopes (bind parameters `box{i}_*`), by id."""
    geometry = func.geometry(Deal.location)
    inside = or_(*[
        func.ST_Intersects(geometry, func.ST_MakeEnvelope(
            *(bindparam(f"box{i}_{edge}", type_=Float) for edge in BBox._fields), 4326))
        for i in range(boxes)
    ])
    query = OPEN_LISTINGS.where(inside).order_by(Deal.id).limit(bindparam("limit"))
    return query.where(Deal.id > bindparam("after", type_=Deal.id.type)) if paged else query


def deals_in_bbox(
    *, session: Session, bbox: BBox, limit: int, now: datetime, after: uuid.UUID | None = None,
) -> list[dict]:
    """Open deals inside a lat/lon viewport (split at the antimeridian when it crosses it), by id."""
    boxes = split_at_antimeridian(bbox)
    values = {"now": now, "limit": limit, "after": after}
    for i, box in enumerate(boxes):
        values.update({f"box{i}_{edge}": value for edge, value in box._asdict().items()})
    statement = _viewport_statement(len(boxes), after is not None)
    return [_listing(row) for row in session.connection().execute(statement, values)]


def merchant_deals(
    *, session: Session, merchant: Account, limit: int, status: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Deal]:
    """The merchant's deals, newest first, with commitment and voucher counts."""
    open_commitments = and_(Commitment.deal_id == Deal.id, Commitment.status != "released")
    voucher_counts = {
        name: select(func.count()).where(Voucher.deal_id == Deal.id, Voucher.status == name)
        .correlate(Deal).scalar_subquery()
        for name in ("issued", "redeemed", "void", "expired")
    }
    query = select(
        Deal,
        select(func.count()).where(open_commitments).correlate(Deal).scalar_subquery(),
        select(func.count(distinct(Commitment.account_id))).where(open_commitments)
        .correlate(Deal).scalar_subquery(),
        *voucher_counts.values(),
    ).where(Deal.merchant_id == merchant.id).limit(limit)
    if status is not None:
        query = query.where(Deal.status == status)
    deals = []
    for deal, commitments, committers, *vouchers in session.execute(
        newest_first(query, Deal.created_at, Deal.id, after)
    ):
        deal.commitments, deal.committers = commitments, committers
        deal.vouchers = dict(zip(voucher_counts, vouchers))
        deals.append(deal)
    return deals


def _explain_refusal(session: Session, deal_id: uuid.UUID, quantity: int, now: datetime) -> None:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("No such deal.")
    if deal.status not in COMMITTABLE_STATUSES or deal.starts_at > now or deal.ends_at <= now:
        raise DealNotOpen("The deal is not open for commitments.")
    raise SoldOut(f"Only {deal.remaining} unit(s) left; you asked for {quantity}.")


def _vouchers_for(commitments, deal_id, redeem_until):
    """INSERT one voucher per unit of `commitments` (a CTE of id, account_id, quantity); the
    database makes each code (the column default), so no unit gets one before it is accepted."""
    unit = func.generate_series(1, commitments.c.quantity).alias("unit")
    return insert(Voucher).from_select(
        ["deal_id", "commitment_id", "account_id", "redeem_until"],
        select(deal_id, commitments.c.id, commitments.c.account_id, redeem_until)
        .select_from(commitments.join(unit, true())),
    )


def _commit_statement() -> Select:
    """Take units, join the account's open quantity, write the commitment (and its vouchers when
    the deal had tipped already) and the merchant's `commitment.created` event in one statement.

    The deal row stays locked from this UPDATE to COMMIT, so every round trip in between is paid
    by every other committer of a hot deal: doing the whole commit in one statement cut the
    lock hold from about six round trips to one.
    """
    deal_id = bindparam("deal_id", type_=Deal.id.type)
    account_id = bindparam("account_id", type_=Commitment.account_id.type)
    quantity = bindparam("quantity", type_=Commitment.quantity.type)
    now = bindparam("now", type_=Deal.ends_at.type)
    new_count = Deal.committed_count + quantity
    tips = and_(Deal.tipped_at.is_(None), new_count >= Deal.min_commitments)
    taken = (
        update(Deal)
        .where(
            Deal.id == deal_id,
            Deal.status.in_(COMMITTABLE_STATUSES),
            Deal.starts_at <= now,
            Deal.ends_at > now,
            or_(Deal.max_commitments.is_(None), new_count <= Deal.max_commitments),
        )
        .values(
            committed_count=new_count,
            tipped_at=case((tips, now), else_=Deal.tipped_at),
            status=case((tips, "tipped"), (Deal.status == "scheduled", "active"), else_=Deal.status),
        )
        .returning(*DEAL_COLUMNS)
        .cte("taken")
    )
    participant = pg_insert(DealParticipant).from_select(
        ["deal_id", "account_id", "open_quantity"],
        select(deal_id, account_id, quantity).where(quantity <= taken.c.per_user_limit),
    )
    joined = participant.on_conflict_do_update(
        index_elements=["deal_id", "account_id"],
        set_={"open_quantity": DealParticipant.open_quantity + participant.excluded.open_quantity},
        where=DealParticipant.open_quantity + participant.excluded.open_quantity
        <= select(taken.c.per_user_limit).scalar_subquery(),
    ).returning(DealParticipant.open_quantity).cte("joined")
    tipped_before = and_(taken.c.tipped_at.is_not(None),
                         taken.c.committed_count - quantity >= taken.c.min_commitments)
    commitment = insert(Commitment).from_select(
        ["deal_id", "account_id", "quantity", "status", "confirmed_at"],
        select(deal_id, account_id, quantity,
               case((tipped_before, "confirmed"), else_="pending"),
               case((tipped_before, now), else_=None))
        .where(exists(select(joined.c.open_quantity))),
    ).returning(Commitment.id, Commitment.deal_id, Commitment.account_id, Commitment.quantity,
                Commitment.status, Commitment.created_at).cte("commitment")
    event = enqueue_insert("commitment.created", select(
        taken.c.merchant_id.label("recipient_id"),
        literal("New commitment").label("title"),
        (quantity.cast(String) + literal(" unit(s) of “") + taken.c.title + literal("”; ")
         + taken.c.committed_count.cast(String) + literal(" committed so far.")).label("body"),
        func.jsonb_build_object(
            "deal_id", taken.c.id.cast(String), "title", taken.c.title,
            "commitment_id", commitment.c.id.cast(String), "quantity", quantity,
            "committed_count", taken.c.committed_count,
        ).label("payload"),
        (literal("commitment.created:") + commitment.c.id.cast(String)).label("event_key"),
    ).select_from(taken.join(commitment, true()))).cte("event")
    confirmed_now = (select(commitment.c.id, commitment.c.account_id, commitment.c.quantity)
                     .where(commitment.c.status == "confirmed").cte("confirmed_now"))
    vouchers = _vouchers_for(confirmed_now, deal_id,
                             select(taken.c.redeem_until).scalar_subquery()).cte("vouchers")
    return (
        select(taken, joined.c.open_quantity, commitment.c.id.label("commitment_id"),
               commitment.c.status.label("commitment_status"),
               commitment.c.created_at.label("commitment_created_at"))
        .select_from(taken.outerjoin(joined, true()).outerjoin(commitment, true()))
        .add_cte(vouchers, event)
    )


COMMIT_UNITS = _commit_statement()


def commit_units(
    *, session: Session, deal_id: uuid.UUID, account: Account, quantity: int, now: datetime,
) -> tuple[Commitment, dict]:
    """Take `quantity` units with one conditional UPDATE; tip exactly once; issue vouchers."""
    taken = session.execute(COMMIT_UNITS, {
        "deal_id": deal_id, "account_id": account.id, "quantity": quantity, "now": now,
    }).one_or_none()
    if taken is None:  # no unit taken, so the statement wrote nothing
        _explain_refusal(session, deal_id, quantity, now)
    if taken.open_quantity is None:
        # Load-bearing: the `taken` CTE has written (raised committed_count, maybe tipped the deal)
        # although the per-user upsert refused. Raising makes the edge roll all of it back; a
        # caller that caught this and committed would keep units nobody holds.
        raise PerUserLimit(f"At most {taken.per_user_limit} unit(s) per account on this deal.")
    deal = _listing(taken)
    commitment = Commitment(id=taken.commitment_id, deal_id=deal_id, quantity=quantity,
                            status=taken.commitment_status, created_at=taken.commitment_created_at)
    if taken.committed_count - quantity < taken.min_commitments <= taken.committed_count:
        _confirm_at_tip(session, deal_id, deal, now)
        commitment.status = "confirmed"
    if enters_about_to_tip(deal["min_commitments"], deal["committed_count"] - quantity,
                           deal["committed_count"]):
        alert_nearby(session, deal_filter=Deal.id == deal_id, reason="about_to_tip", now=now)
    session.flush()
    return commitment, deal


def _confirm_at_tip(session: Session, deal_id: uuid.UUID, deal: dict, now: datetime) -> None:
    """The tip: confirm every pending commitment, issue its vouchers, tell committers and merchant."""
    confirmed = (
        update(Commitment)
        .where(Commitment.deal_id == deal_id, Commitment.status == "pending")
        .values(status="confirmed", confirmed_at=now)
        .returning(Commitment.id, Commitment.account_id, Commitment.quantity)
        .cte("confirmed")
    )
    vouchers = _vouchers_for(confirmed, literal(deal_id, Deal.id.type),
                             literal(deal["redeem_until"], Deal.redeem_until.type))
    committers = session.execute(
        select(confirmed.c.account_id).add_cte(vouchers.cte("vouchers"))).scalars().all()
    _deal_event(session, "deal.tipped", deal_id, deal["title"], [*committers, deal["merchant_id"]],
                "Deal tipped!",
                f"“{deal['title']}” reached {deal['min_commitments']} commitments: it's on.",
                f"deal.tipped:{deal_id}", committed_count=deal["committed_count"])


def withdraw(*, session: Session, deal_id: uuid.UUID, account: Account, now: datetime) -> tuple[int, Deal]:
    """Release the account's pending commitments on a deal that has not tipped."""
    deal = session.scalars(select(Deal).where(Deal.id == deal_id).with_for_update()).one_or_none()
    if deal is None:
        raise NotFound("No such deal.")
    if deal.status in ("tipped", "closed"):
        raise DealTipped("The deal has tipped; your vouchers are issued.")
    released = sum(session.execute(
        update(Commitment)
        .where(Commitment.deal_id == deal.id, Commitment.account_id == account.id,
               Commitment.status == "pending")
        .values(status="released", released_at=now)
        .returning(Commitment.quantity)
    ).scalars())
    if released:
        deal.committed_count -= released
        session.execute(delete(DealParticipant).where(
            DealParticipant.deal_id == deal.id, DealParticipant.account_id == account.id))
    session.flush()
    session.refresh(deal)
    return released, deal


def my_commitments(*, session: Session, account: Account, limit: int, after=None) -> list[Commitment]:
    """The account's commitments, newest first."""
    query = select(Commitment).where(Commitment.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Commitment.created_at, Commitment.id, after)))


def my_vouchers(*, session: Session, account: Account, limit: int, after=None) -> list[Voucher]:
    """The account's vouchers, newest first."""
    query = select(Voucher).where(Voucher.account_id == account.id).limit(limit)
    return list(session.scalars(newest_first(query, Voucher.created_at, Voucher.id, after)))


def redeem_voucher(*, session: Session, code: str, merchant: Account, now: datetime) -> Voucher:
    """Redeem a voucher of one of the merchant's deals, once; 404 for anyone else's."""
    canonical = normalise_code(code)
    owned = exists().where(Deal.id == Voucher.deal_id, Deal.merchant_id == merchant.id)
    voucher = session.scalars(
        select(Voucher).where(Voucher.code == canonical, owned).with_for_update()
    ).one_or_none() if canonical else None
    if voucher is None:
        raise NotFound("No such voucher.")
    refuse_redemption(status=voucher.status, valid_until=voucher.redeem_until, now=now)
    voucher.status, voucher.redeemed_at = "redeemed", now
    deal = session.get(Deal, voucher.deal_id)
    _deal_event(session, "voucher.redeemed", deal.id, deal.title, [merchant.id, voucher.account_id],
                "Voucher redeemed", f"A voucher for “{deal.title}” was redeemed.",
                f"voucher.redeemed:{voucher.id}", code=voucher.code)
    session.flush()
    return voucher
