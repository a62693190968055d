"""Social sweeps: set-based, idempotent statements that take `now` (run by the scheduler)."""

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from deals.models import DealCommitmentMinute
from social.models import FriendNoticeCount, ShareVisit
from social.services import RECENT_WINDOW


def prune_social_proof(*, session: Session, now: datetime) -> dict:
    """Forget what no count needs any more: visits and friend check-in notice counts before
    yesterday (both are counted per UTC day; yesterday stays for requests that straddle
    midnight) and minute rows older than the `recent_commitments` window."""
    yesterday = (now - timedelta(days=1)).date()
    visits = session.execute(delete(ShareVisit).where(ShareVisit.day < yesterday)).rowcount
    notices = session.execute(
        delete(FriendNoticeCount).where(FriendNoticeCount.day < yesterday)
    ).rowcount
    minutes = session.execute(
        delete(DealCommitmentMinute).where(DealCommitmentMinute.minute <= now - RECENT_WINDOW)
    ).rowcount
    return {"share_visits": visits, "commitment_minutes": minutes, "friend_notice_counts": notices}


JOBS = {"prune-social-proof": (prune_social_proof, "JOB_INTERVAL_SECONDS")}
