"""Pure rules for a deal's terms (shared by create and patch)."""

from datetime import datetime, timedelta

from deals.models import DealStatus

# A deal's terms: they change only before the first commitment (title and description any time).
TERMS = (
    "price_cents",
    "original_price_cents",
    "currency",
    "min_commitments",
    "max_commitments",
    "per_user_limit",
    "starts_at",
    "ends_at",
    "redeem_until",
    "referral",
    "new_customers_only",
    "refund_days",
)
MAX_DURATION = timedelta(days=90)
DEFAULT_REDEEM_PERIOD = timedelta(days=90)


def with_defaults(terms: dict, now: datetime) -> dict:
    """Fill `starts_at` (now) and `redeem_until` (ends_at + 90 days) when absent."""
    terms = dict(terms)
    if terms.get("starts_at") is None:
        terms["starts_at"] = now
    if terms.get("redeem_until") is None:
        terms["redeem_until"] = terms["ends_at"] + DEFAULT_REDEEM_PERIOD
    return terms


def term_errors(terms: dict, now: datetime) -> dict[str, list[str]]:
    """Field -> messages for every cross-field rule of docs/API.md that the terms break."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    starts_at, ends_at = terms["starts_at"], terms["ends_at"]
    if ends_at <= starts_at:
        fail("ends_at", "Must be after starts_at.")
    if ends_at <= now:
        fail("ends_at", "Must be in the future.")
    if ends_at > starts_at + MAX_DURATION:
        fail("ends_at", "Must be at most 90 days after starts_at.")
    if terms["redeem_until"] < ends_at:
        fail("redeem_until", "Must not be before ends_at.")
    maximum = terms.get("max_commitments")
    if maximum is not None and maximum < terms["min_commitments"]:
        fail("max_commitments", "Must be at least min_commitments (or null for no cap).")
    original = terms.get("original_price_cents")
    if original is not None and original < terms["price_cents"]:
        fail("original_price_cents", "Must not be below price_cents.")
    return errors


def initial_status(starts_at: datetime, now: datetime) -> DealStatus:
    """`scheduled` before the start, else `active`."""
    return DealStatus.SCHEDULED if starts_at > now else DealStatus.ACTIVE
