"""Caps on how many objects of one kind an owner (an account, a venue) may have."""

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.errors import Conflict


class LimitReached(Conflict):
    code, title = "limit-reached", "Limit reached"


def claim_slot(session: Session, *, owner, owner_id, owned: Select, cap: int, what: str) -> None:
    """Lock the owner's row; refuse with 409 `limit-reached` if it already has `cap` of `owned`.

    `owned` selects the owner's objects that count. The lock (held to COMMIT) queues concurrent
    creations for one owner, so two at `cap - 1` cannot both pass; FOR NO KEY UPDATE leaves the
    foreign-key checks of other inserts that reference the owner unblocked.
    """
    session.execute(select(owner.id).where(owner.id == owner_id).with_for_update(key_share=True))
    if session.scalar(select(func.count()).select_from(owned.subquery())) >= cap:
        raise LimitReached(f"At most {cap} {what}.")
