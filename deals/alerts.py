"""Deal events that depend on where people are: `deal.nearby` alerts and the about-to-tip zone."""

import math
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from deals.models import Deal
from notifications.services import enqueue_nearby

ABOUT_TO_TIP_SHARE = 0.2
ABOUT_TO_TIP_UNITS = 3


def about_to_tip_zone(min_commitments: int) -> int:
    """How many missing units still count as "about to tip": 20 % of the goal, at least 3."""
    return max(math.ceil(min_commitments * ABOUT_TO_TIP_SHARE), ABOUT_TO_TIP_UNITS)


def enters_about_to_tip(min_commitments: int, before: int, after: int) -> bool:
    """Whether moving from `before` to `after` committed units enters the zone without tipping."""
    zone = about_to_tip_zone(min_commitments)
    return 0 < min_commitments - after <= zone < min_commitments - before


def alert_nearby(session: Session, *, deal_filter, reason: str, now: datetime) -> int:
    """Enqueue `deal.nearby` (`reason`: opened / about_to_tip) for the deals matching the filter."""
    deals = select(
        Deal.id.label("deal_id"),
        Deal.location,
        Deal.title,
        (Deal.min_commitments - Deal.committed_count).label("units_needed"),
    ).where(deal_filter)
    return enqueue_nearby(
        session,
        deals=deals,
        reason=reason,
        now=now,
        daily_cap=current_app.config["NEARBY_ALERTS_PER_DAY"],
    )
