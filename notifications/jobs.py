"""Scheduled jobs of the notifications domain."""

from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session

from notifications.dispatcher import DispatchSettings, dispatch


def dispatch_notifications(*, session: Session, now: datetime) -> dict:
    """Fan out pending events (inbox, push, webhooks) and send every due delivery."""
    config = current_app.config
    settings = DispatchSettings(
        push_gateway_url=config["PUSH_GATEWAY_URL"],
        allow_loopback=config["WEBHOOK_ALLOW_LOOPBACK"],
        batch_size=config["DISPATCH_BATCH_SIZE"],
        workers=config["DISPATCH_WORKERS"],
        workers_per_account=config["DISPATCH_WORKERS_PER_ACCOUNT"],
        dns_timeout=config["WEBHOOK_DNS_TIMEOUT_SECONDS"],
        read_limit=config["DISPATCH_RESPONSE_BYTES"],
    )
    return dispatch(session=session, now=now, settings=settings)


JOBS = {"dispatch-notifications": (dispatch_notifications, "DISPATCH_INTERVAL_SECONDS")}
