"""Social verbs: share a deal, find a share by its code, count a visit, list one's shares, the
social proof of a page of deals; ask, accept and remove friends, list them, read the feed.

Each runs in the caller's unit of work (core.db.unit_of_work): it flushes and raises, and the
edge commits once or rolls back. The SQL is in `social.statements`.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Account
from core.codes import ALPHABET
from core.db import newest_first
from core.errors import NotFound, ValidationFailed
from core.limits import LimitReached, claim_slot
from core.schemas import LATEST_TIMESTAMP
from deals.models import Deal
from deals.services import get_deal
from notifications.services import enqueue
from social import statements
from social.models import SHARE_CODE_LENGTH, FriendRequest, Share

# `recent_commitments` counts the units of this window ("12 committed in the last hour").
RECENT_WINDOW = timedelta(hours=1)

# 40 random bits: a collision is rare, several in a row mean something else is wrong.
CODE_ATTEMPTS = 5


def share_url(code: str) -> str:
    """The public URL of a share: `PUBLIC_BASE_URL/s/{code}`."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/s/{code}"


def new_share_code() -> str:
    """A fresh share code: Crockford base32 from `secrets`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SHARE_CODE_LENGTH))


def share_deal(*, session: Session, deal_id: uuid.UUID, account: Account) -> tuple[Share, bool]:
    """The account's share of the deal, made if there is none; `(share, created)`. 404 for an
    unknown deal. Concurrent calls agree: the unique (account, deal) constraint keeps one."""
    get_deal(session=session, deal_id=deal_id)
    for _ in range(CODE_ATTEMPTS):
        created = session.scalars(
            statements.INSERT_SHARE,
            {"new_code": new_share_code(), "sharer_id": account.id, "shared_deal_id": deal_id},
        ).one_or_none()
        if created is not None:
            return created, True
        existing = account_share(session=session, account=account, deal_id=deal_id)
        if existing is not None:
            return existing, False
        # Neither inserted nor there: the code was taken; draw another.
    raise RuntimeError("no free share code after several attempts")


def account_share(*, session: Session, account: Account, deal_id: uuid.UUID) -> Share | None:
    """The account's share of the deal, if it made one."""
    return session.scalars(
        select(Share).where(Share.account_id == account.id, Share.deal_id == deal_id)
    ).one_or_none()


def share_by_code(*, session: Session, code: str) -> Share:
    """A share by its code (case-insensitive); 404 if there is none."""
    share = session.scalars(select(Share).where(Share.code == code.upper())).one_or_none()
    if share is None:
        raise NotFound("No such share.")
    return share


def count_visit(*, session: Session, share_id: uuid.UUID, visitor: str, day: date) -> bool:
    """Count a visit of the share unless this visitor (a keyed hash) was counted that day;
    whether it counted."""
    result = session.execute(
        statements.COUNT_VISIT,
        {"visited_share_id": share_id, "visit_day": day, "visitor": visitor},
    )
    return result.rowcount == 1


def my_shares(*, session: Session, account: Account, limit: int, after=None) -> list[Share]:
    """The account's shares, newest first, each with its deal's `referral` terms."""
    query = (
        select(Share, Deal.referral)
        .join(Deal, Deal.id == Share.deal_id)
        .where(Share.account_id == account.id)
        .limit(limit)
    )
    shares = []
    for share, referral in session.execute(newest_first(query, Share.created_at, Share.id, after)):
        share.referral = referral
        shares.append(share)
    return shares


def with_social_proof(*, session: Session, deals: list, viewer: Account | None, now: datetime):
    """Give each deal of a page (listing dicts or `Deal`s) its `recent_commitments` (units in the
    last hour) and, for a signed-in `viewer`, its `viewer` object; one query for the page."""
    if not deals:
        return deals
    rows = session.execute(
        statements.SOCIAL_PROOF,
        {
            "deal_ids": [uuid.UUID(str(_deal_id(deal))) for deal in deals],
            "viewer_id": viewer.id if viewer is not None else None,
            "since": now - RECENT_WINDOW,
        },
    )
    proof = {str(row.deal_id): row for row in rows}
    for deal in deals:
        row = proof[str(_deal_id(deal))]
        extra = {"recent_commitments": row.recent_commitments}
        if viewer is not None:
            extra["viewer"] = {
                "committed_quantity": row.committed_quantity or 0,
                "share_code": row.share_code,
                "friends_committed": {
                    "count": row.friends_count,
                    "names": row.friends_names or [],
                },
            }
        if isinstance(deal, dict):
            deal.update(extra)
        else:
            for name, value in extra.items():
                setattr(deal, name, value)
    return deals


def _deal_id(deal) -> str:
    return deal["id"] if isinstance(deal, dict) else deal.id


# ----------------------------------------------------------------------------------------- friends


@dataclass(frozen=True)
class FriendLimits:
    """Pending requests an account may have sent, and friends it may have."""

    pending: int
    friends: int

    @classmethod
    def from_config(cls, config) -> "FriendLimits":
        """The limits configured in `config`."""
        return cls(
            pending=config["FRIEND_REQUESTS_PENDING_MAX"], friends=config["FRIENDS_PER_ACCOUNT"]
        )


@dataclass(frozen=True)
class FriendEntry:
    """Another account as `GET /me/friends` lists it: a friend (`friends`), or a pending request
    it sent (`incoming`) or was sent (`outgoing`)."""

    account: dict  # id, display_name, handle: never the email
    status: str
    created_at: datetime

    @property
    def id(self) -> uuid.UUID:
        return self.account["id"]


# Which relation wins if a pair somehow has several (never after the pair lock): friends first.
RELATION_ORDER = ("friends", "incoming", "outgoing")


def request_friendship(
    *, session: Session, account: Account, handle: str, now: datetime, limits: FriendLimits
) -> tuple[FriendEntry, bool]:
    """Ask the account behind `handle` to be friends; `(entry, created)`.

    Found by handle only, never by email, and an unknown handle and an account that cannot
    take requests (a merchant, a deleted account) answer the same 404. Asking again changes
    nothing; asking someone who has asked you accepts their request. At most `limits.pending`
    requests sent and waiting (409 `limit-reached`).
    """
    target = session.execute(statements.FIND_BY_HANDLE, {"wanted_handle": handle}).one_or_none()
    if target is not None and target.id == account.id:
        raise ValidationFailed({"handle": ["That is your own handle."]})
    pair = {"me": account.id, "other": target.id if target is not None else None}
    if target is None or target.id not in _lock_live_pair(session, pair):
        raise NotFound("No account takes friend requests under this handle.")
    current = _relation(session, pair)
    if current is not None and current.status == "incoming":
        return _befriend(session, account, pair, now, limits), False
    if current is not None:
        return current, False
    claim_slot(
        session,
        owner=Account,
        owner_id=account.id,
        owned=select(FriendRequest.addressee_id).where(FriendRequest.requester_id == account.id),
        cap=limits.pending,
        what="friend requests waiting for an answer",
    )
    created_at = session.execute(statements.INSERT_REQUEST, pair).scalar_one()
    enqueue(
        session,
        kind="friend.requested",
        recipients=[target.id],
        title="Friend request",
        body=f"{account.display_name} wants to be friends.",
        payload=_friend_payload(account),
        # At most one a day per pair, however often a request is cancelled and sent again.
        dedupe_key=f"friend.requested:{account.id}:{now.date()}",
    )
    return FriendEntry(_public(target), "outgoing", created_at), True


def accept_friendship(
    *,
    session: Session,
    account: Account,
    requester_id: uuid.UUID,
    now: datetime,
    limits: FriendLimits,
) -> FriendEntry:
    """Accept the request `requester_id` sent: two friends (accepting again changes nothing);
    404 if that account has not asked; 409 `limit-reached` if either side has
    `limits.friends` friends already."""
    pair = {"me": account.id, "other": requester_id}
    _lock_live_pair(session, pair)
    current = _relation(session, pair)
    if current is None or current.status == "outgoing":
        raise NotFound("No friend request from this account.")
    if current.status == "friends":
        return current
    return _befriend(session, account, pair, now, limits)


def remove_friendship(*, session: Session, account: Account, other_id: uuid.UUID) -> None:
    """Decline their request, cancel one's own, or unfriend (both sides at once); 404 if there
    is nothing between the two accounts."""
    pair = {"me": account.id, "other": other_id}
    _lock_live_pair(session, pair)
    friendships = session.execute(statements.DELETE_FRIENDSHIP, pair).all()
    requests = session.execute(statements.DELETE_REQUESTS, pair).all()
    if not friendships and not requests:
        raise NotFound("No friendship or friend request with this account.")


def list_friends(
    *, session: Session, account: Account, limit: int, status: str | None = None, after=None
) -> list[FriendEntry]:
    """The account's friends and pending requests both ways (or those of `status`), newest
    first."""
    entries = statements.friend_entries(account.id)
    query = (
        select(
            entries.c.id,
            entries.c.created_at,
            entries.c.status,
            Account.display_name,
            Account.handle,
        )
        .join(Account, Account.id == entries.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(entries.c.status == status)
    return [
        FriendEntry(_public(row), row.status, row.created_at)
        for row in session.execute(newest_first(query, entries.c.created_at, entries.c.id, after))
    ]


# Past every id: the first page of the feed starts after it.
LAST_ID = uuid.UUID(int=2**128 - 1)


def feed(*, session: Session, account: Account, limit: int, after=None) -> list[dict]:
    """The account's friends' shared check-ins (venue and time only) and commitments that still
    hold units, and their reviews, newest first; one query, index ranges per friend."""
    before_at, before_id = after or (LATEST_TIMESTAMP, LAST_ID)
    rows = session.execute(
        statements.FEED,
        {"viewer_id": account.id, "before_at": before_at, "before_id": before_id, "limit": limit},
    )
    return [_feed_item(row) for row in rows]


def _feed_item(row) -> dict:
    return {
        "id": row.id,
        "kind": row.kind,
        "created_at": row.created_at,
        "friend": {
            "id": row.friend_id,
            "display_name": row.friend_name,
            "handle": row.friend_handle,
        },
        "venue": {"id": row.venue_id, "name": row.venue_name},
        "deal": {"id": row.deal_id, "title": row.deal_title} if row.deal_id is not None else None,
        "quantity": row.quantity,
        "review": {"rating": row.rating, "text": row.text} if row.rating is not None else None,
    }


def _lock_live_pair(session: Session, pair: dict) -> set[uuid.UUID]:
    """Lock both accounts of `pair` (in id order); the ids of those that exist and are not
    deleted."""
    return {row.id for row in session.execute(statements.LOCK_PAIR, pair) if row.deleted_at is None}


def _relation(session: Session, pair: dict) -> FriendEntry | None:
    """How the pair stands, from `me`'s side: None, or the entry `GET /me/friends` would list."""
    rows = sorted(
        session.execute(statements.RELATION, pair), key=lambda row: RELATION_ORDER.index(row.status)
    )
    if not rows:
        return None
    row = rows[0]
    account = {"id": pair["other"], "display_name": row.display_name, "handle": row.handle}
    return FriendEntry(account, row.status, row.created_at)


def _befriend(
    session: Session, account: Account, pair: dict, now: datetime, limits: FriendLimits
) -> FriendEntry:
    """Turn the pair's request(s) into a friendship (both directions) and tell the requester;
    the pair is locked."""
    for counted_id in sorted((pair["me"], pair["other"])):
        if (
            session.execute(statements.COUNT_FRIENDS, {"counted_id": counted_id}).scalar_one()
            >= limits.friends
        ):
            raise LimitReached(f"At most {limits.friends} friends per account.")
    session.execute(statements.DELETE_REQUESTS, pair)
    created_at = session.execute(statements.INSERT_FRIENDSHIP, pair).scalars().first() or now
    other = session.execute(statements.FIND_BY_ID, {"found_id": pair["other"]}).one()
    enqueue(
        session,
        kind="friend.accepted",
        recipients=[pair["other"]],
        title="Friend request accepted",
        body=f"{account.display_name} accepted: you are friends now.",
        payload=_friend_payload(account),
        dedupe_key=f"friend.accepted:{account.id}:{now.date()}",
    )
    return FriendEntry(_public(other), "friends", created_at)


def _public(row) -> dict:
    """What other accounts may see of an account: id, display name and handle."""
    return {"id": row.id, "display_name": row.display_name, "handle": row.handle}


def _friend_payload(account: Account) -> dict:
    return {
        "account_id": str(account.id),
        "display_name": account.display_name,
        "handle": account.handle,
    }
