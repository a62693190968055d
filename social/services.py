"""Share verbs: share a deal, find a share by its code, count a visit, list one's shares.

Each runs in the caller's unit of work (core.db.unit_of_work): it flushes and raises, and the
edge commits once or rolls back. The SQL is in `social.statements`.
"""

import secrets
import uuid
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Account
from core.codes import ALPHABET
from core.db import newest_first
from core.errors import NotFound
from deals.models import Deal
from deals.services import get_deal
from social import statements
from social.models import SHARE_CODE_LENGTH, Share

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
                # Friendships do not exist yet: nobody's friends have committed.
                "friends_committed": {"count": 0, "names": []},
            }
        if isinstance(deal, dict):
            deal.update(extra)
        else:
            for name, value in extra.items():
                setattr(deal, name, value)
    return deals


def _deal_id(deal) -> str:
    return deal["id"] if isinstance(deal, dict) else deal.id
