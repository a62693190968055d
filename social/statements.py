"""The SQL of the social verbs: the share upsert, the once-a-day visit count, the attribution a
commitment statement (deals.statements) joins, the social proof of a page of deals, friendships
and the feed.

As in deals.statements, no bind parameter is named like a column of a table a statement
writes (tests/unit/test_statement_parameters.py checks it)."""

from sqlalchemy import (
    DateTime,
    Integer,
    Select,
    SmallInteger,
    Text,
    Uuid,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.models import Account
from checkins.models import Checkin
from deals.models import (
    OPEN_COMMITMENT_STATUSES,
    Commitment,
    CommitmentStatus,
    Deal,
    DealCommitmentMinute,
    DealParticipant,
)
from reviews.models import Review
from social.models import Audience, FriendRequest, Friendship, Referral, Share, ShareVisit
from venues.models import Venue

# Friends whose open shared commitments `friends_committed` names, at most.
FRIENDS_NAMED = 3

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
    the deal if it has one, else the share behind `share_code` when that is another live
    account's share of the same deal (a deleted account's links attribute nothing new),
    recorded as the referral. First attribution wins, also between
    concurrent commits: the referral's primary key makes the later insert return the earlier row.

    `accepted` is a condition true when the commitment is written; no referral is recorded
    for refused units.
    """
    offered = select(deal_id, account_id, Share.id, Share.account_id).where(
        Share.code == share_code,
        Share.deal_id == deal_id,
        Share.account_id != account_id,
        ~exists().where(Account.id == Share.account_id, Account.deleted_at.is_not(None)),
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


def _friends_committed(page, viewer_id):
    """LATERAL (friends_count, friends_names) for one deal of the page: the viewer's friends
    holding open commitments on it that they shared, the most recent first. Each of the
    viewer's friends (a primary-key range) is looked up on the deal in
    `ix_commitments_shared_deal` (a LATERAL probe per friend), so the cost is the number of
    friends (capped by FRIENDS_PER_ACCOUNT), never the deal's number of commitments: a hot
    deal in every listing costs no more than a quiet one."""
    latest = (
        select(func.max(Commitment.created_at).label("latest"))
        .where(
            Commitment.account_id == Friendship.friend_id,
            Commitment.deal_id == page.c.id,
            Commitment.share == Audience.FRIENDS,
            Commitment.status.in_(OPEN_COMMITMENT_STATUSES),
        )
        .correlate(page, Friendship)
        .lateral("latest_commitment")
    )
    matched = (
        select(Friendship.friend_id, latest.c.latest)
        .select_from(Friendship.__table__.join(latest, true()))
        .where(Friendship.account_id == viewer_id, latest.c.latest.is_not(None))
        .correlate(page)
        .subquery("matched")
    )
    names = func.array_agg(
        aggregate_order_by(Account.display_name, matched.c.latest.desc(), Account.id)
    )
    return (
        select(
            func.count().label("friends_count"),
            names[1:FRIENDS_NAMED].label("friends_names"),
        )
        .select_from(matched.join(Account, Account.id == matched.c.friend_id))
        .lateral("friends_committed")
    )


def _social_proof() -> Select:
    """Per deal of `deal_ids`: the units committed since `since` (the deal's minute rows, at
    most an hour of them) and, for `viewer_id` (or None), its open quantity, its share code and
    its friends who committed (count and names). Each part is an index lookup per deal (the
    friends' part one per friend), so a page of deals costs one small query."""
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
    friends = _friends_committed(page, viewer_id)
    return select(
        page.c.id.label("deal_id"),
        recent.label("recent_commitments"),
        committed.label("committed_quantity"),
        share_code.label("share_code"),
        friends.c.friends_count,
        friends.c.friends_names,
    ).select_from(page.join(friends, true()))


SOCIAL_PROOF = _social_proof()


# ----------------------------------------------------------------------------------- friendships

_ME = bindparam("me", type_=Uuid())
_OTHER = bindparam("other", type_=Uuid())

# Both accounts of a pair, locked in id order (FOR NO KEY UPDATE, which leaves foreign-key
# checks of other inserts alone): every change between two accounts, and every count of an
# account's friends or requests, happens under these locks, so they are exact.
LOCK_PAIR = (
    select(Account.id, Account.deleted_at)
    .where(Account.id.in_([_ME, _OTHER]))
    .order_by(Account.id)
    .with_for_update(key_share=True)
)
_PUBLIC_COLUMNS = (Account.id, Account.display_name, Account.handle)
# Whom a handle names, if it can take friend requests: a live customer account.
FIND_BY_HANDLE = select(*_PUBLIC_COLUMNS).where(
    Account.handle == bindparam("wanted_handle"),
    Account.role == "customer",
    Account.deleted_at.is_(None),
)
FIND_BY_ID = select(*_PUBLIC_COLUMNS).where(Account.id == bindparam("found_id", type_=Uuid()))


def friend_entries(me) -> Select:
    """(id, created_at, status) of every account `me` is friends with or has a pending request
    with, in either direction; each branch is a range of its own (account, created_at) index."""
    return union_all(
        select(
            Friendship.friend_id.label("id"),
            Friendship.created_at,
            literal("friends").label("status"),
        ).where(Friendship.account_id == me),
        select(FriendRequest.addressee_id, FriendRequest.created_at, literal("outgoing")).where(
            FriendRequest.requester_id == me
        ),
        select(FriendRequest.requester_id, FriendRequest.created_at, literal("incoming")).where(
            FriendRequest.addressee_id == me
        ),
    ).subquery("entries")


_PAIR = friend_entries(_ME)
# How `me` and `other` stand: no row, or one per relation (friends, or a request either way).
RELATION = (
    select(_PAIR.c.status, _PAIR.c.created_at, Account.display_name, Account.handle)
    .join(Account, Account.id == _PAIR.c.id)
    .where(_PAIR.c.id == _OTHER)
)
INSERT_REQUEST = (
    pg_insert(FriendRequest.__table__)
    .values(requester_id=_ME, addressee_id=_OTHER)
    .on_conflict_do_nothing()
    .returning(FriendRequest.created_at)
)
_BETWEEN_PAIR = or_(
    and_(FriendRequest.requester_id == _ME, FriendRequest.addressee_id == _OTHER),
    and_(FriendRequest.requester_id == _OTHER, FriendRequest.addressee_id == _ME),
)
DELETE_REQUESTS = delete(FriendRequest).where(_BETWEEN_PAIR).returning(FriendRequest.requester_id)
INSERT_FRIENDSHIP = (
    pg_insert(Friendship.__table__)
    .from_select(
        ["account_id", "friend_id"],
        union_all(select(_ME, _OTHER), select(_OTHER, _ME)),
    )
    .on_conflict_do_nothing()
    .returning(Friendship.created_at)
)
DELETE_FRIENDSHIP = (
    delete(Friendship)
    .where(
        or_(
            and_(Friendship.account_id == _ME, Friendship.friend_id == _OTHER),
            and_(Friendship.account_id == _OTHER, Friendship.friend_id == _ME),
        )
    )
    .returning(Friendship.account_id)
)
COUNT_FRIENDS = select(func.count()).where(Friendship.account_id == bindparam("counted_id"))


# ------------------------------------------------------------------------------------------ feed

_VIEWER = bindparam("viewer_id", type_=Uuid())
_BEFORE_AT = bindparam("before_at", type_=DateTime(timezone=True))
_BEFORE_ID = bindparam("before_id", type_=Uuid())
_LIMIT = bindparam("limit", type_=Integer)
_VIEWERS_FRIENDS = (
    select(Friendship.friend_id).where(Friendship.account_id == _VIEWER).subquery("friends")
)


def _before_cursor(created_at, item_id):
    """Strictly older than the cursor's (created_at, id); `created_at <= ...` on its own so the
    index range starts at the cursor instead of at the newest item."""
    return and_(
        created_at <= _BEFORE_AT,
        or_(created_at < _BEFORE_AT, item_id < _BEFORE_ID),
    )


def _feed_source(kind: str, model, *columns, where) -> Select:
    """One kind of feed item: each friend's newest `limit` items of `model` (a LATERAL range
    scan per friend) as (kind, id, created_at, account_id, venue_id, deal_id, quantity, rating,
    text); `columns` gives the last five, `where` what makes one of them shared."""
    newest = (
        select(
            literal(kind).label("kind"),
            model.id,
            model.created_at,
            model.account_id,
            *columns,
        )
        .where(
            model.account_id == _VIEWERS_FRIENDS.c.friend_id,
            *where,
            _before_cursor(model.created_at, model.id),
        )
        .order_by(model.created_at.desc(), model.id.desc())
        .limit(_LIMIT)
        .lateral(f"shared_{kind}s")
    )
    return select(*newest.c).select_from(_VIEWERS_FRIENDS.join(newest, true()))


def _none(type_):
    return cast(null(), type_)


FEED_SOURCES = (
    # Check-ins: the venue and the time only, never the reported point or its accuracy.
    _feed_source(
        "checkin",
        Checkin,
        Checkin.venue_id,
        _none(Uuid()).label("deal_id"),
        _none(Integer()).label("quantity"),
        _none(SmallInteger()).label("rating"),
        _none(Text()).label("text"),
        where=(Checkin.counted, Checkin.share == Audience.FRIENDS),
    ),
    # Commitments that still hold units: the deal and the quantity.
    _feed_source(
        "commitment",
        Commitment,
        _none(Uuid()).label("venue_id"),
        Commitment.deal_id,
        Commitment.quantity,
        _none(SmallInteger()).label("rating"),
        _none(Text()).label("text"),
        where=(
            Commitment.share == Audience.FRIENDS,
            Commitment.status != CommitmentStatus.RELEASED,
        ),
    ),
    # Reviews are public already: every visible one, with its venue, rating and text.
    _feed_source(
        "review",
        Review,
        Review.venue_id,
        _none(Uuid()).label("deal_id"),
        _none(Integer()).label("quantity"),
        Review.rating,
        Review.text,
        where=(Review.hidden_at.is_(None),),
    ),
)


def _feed(sources) -> Select:
    """The viewer's feed page: the newest `limit` of every friend's newest `limit` items of
    every source older than the cursor, then their friend, venue and deal. With F friends the
    work is F short index ranges per source and a sort of at most F x limit rows, however long
    anyone's history is."""
    merged = union_all(*sources).subquery("merged")
    page = (
        select(merged)
        .order_by(merged.c.created_at.desc(), merged.c.id.desc())
        .limit(_LIMIT)
        .subquery("page")
    )
    return (
        select(
            page.c.kind,
            page.c.id,
            page.c.created_at,
            page.c.account_id.label("friend_id"),
            Account.display_name.label("friend_name"),
            Account.handle.label("friend_handle"),
            Venue.id.label("venue_id"),
            Venue.name.label("venue_name"),
            page.c.deal_id,
            Deal.title.label("deal_title"),
            page.c.quantity,
            page.c.rating,
            page.c.text,
        )
        .select_from(
            page.join(Account, Account.id == page.c.account_id)
            .outerjoin(Deal, Deal.id == page.c.deal_id)
            .join(Venue, Venue.id == func.coalesce(page.c.venue_id, Deal.venue_id))
        )
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


FEED = _feed(FEED_SOURCES)


# ------------------------------------------------------------------------------ account deletion

_DELETED = bindparam("deleted_id", type_=Uuid())
# Pending commitments are withdrawn deal by deal (deals.services.withdraw), in deal order.
DEALS_WITH_PENDING_COMMITMENTS = (
    select(Commitment.deal_id)
    .where(Commitment.account_id == _DELETED, Commitment.status == CommitmentStatus.PENDING)
    .group_by(Commitment.deal_id)
    .order_by(Commitment.deal_id)
)
# What stays of the account's commitments (confirmed units, vouchers, history) is no longer
# anyone's to see: out of every feed and every `friends_committed`.
UNSHARE_COMMITMENTS = (
    update(Commitment)
    .where(Commitment.account_id == _DELETED, Commitment.share != Audience.PRIVATE)
    .values(share=Audience.PRIVATE)
)
# Check-ins stay (the venue's visits, rewards and mayorships refer to them) without what was
# personal: the reported point becomes the venue's, the accuracy and message go, and nobody
# sees them any more.
FORGET_CHECKINS = (
    update(Checkin)
    .where(Checkin.account_id == _DELETED, Venue.id == Checkin.venue_id)
    .values(
        location=Venue.location,
        accuracy_m=None,
        message=None,
        distance_m=0,
        share=Audience.PRIVATE,
    )
)
FORGET_FRIENDSHIPS = delete(Friendship).where(
    or_(Friendship.account_id == _DELETED, Friendship.friend_id == _DELETED)
)
FORGET_FRIEND_REQUESTS = delete(FriendRequest).where(
    or_(FriendRequest.requester_id == _DELETED, FriendRequest.addressee_id == _DELETED)
)
