"""Scheduled jobs of the notifications domain."""
from datetime import datetime

from sqlalchemy.orm import Session

from notifications.services import deliver_to_inbox


def dispatch_notifications(*, session: Session, now: datetime) -> dict:
    """Deliver pending outbox events to the in-app inbox until none is left."""
    total = 0
    while delivered := deliver_to_inbox(session=session, now=now):
        total += delivered
    return {"delivered": total}


JOBS = {"dispatch-notifications": (dispatch_notifications, "DISPATCH_INTERVAL_SECONDS")}
