"""The statement: the merchant's money per deal over whole UTC days, exactly as the API's
statement gives it (the same service call)."""

from datetime import UTC, date, datetime, time, timedelta

from flask import render_template, request
from marshmallow import ValidationError, fields

from core.db import get_session, utcnow
from core.errors import ValidationFailed
from payments.schemas import STATEMENT_DEFAULT_SPAN
from payments.services import merchant_statement
from web.blueprint import bp
from web.pages import merchant, page

DAY = timedelta(days=1)


def _day(raw: str, default: date, name: str, errors: dict) -> date:
    """A typed <input type="date"> (ISO), or `default` when empty; the API's message if unreadable."""
    if not raw:
        return default
    try:
        return fields.Date().deserialize(raw)
    except ValidationError as error:
        errors.setdefault(name, []).extend(error.messages)
        return default


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@bp.route("/statement")
@page(read_only=True)
def statement():
    """Gross paid, refunds, referral commissions, platform fee and payable per deal and per
    currency, from the first day's UTC midnight up to the end of the last day (included);
    by default the last 30 days, today included, as the API's default."""
    today = utcnow().date()
    errors: dict[str, list[str]] = {}
    last = _day(request.args.get("to", "").strip(), today, "to", errors)
    first = _day(
        request.args.get("from", "").strip(), last - STATEMENT_DEFAULT_SPAN + DAY, "from", errors
    )
    found = None
    if not errors:
        try:
            found = merchant_statement(
                session=get_session(),
                merchant=merchant(),
                start=_midnight(first),
                end=_midnight(last + DAY),
            )
        except ValidationFailed as refusal:
            errors.update(refusal.extra["errors"])
    page_html = render_template(
        "merchant/statement.html",
        first=request.args.get("from", "").strip() or first.isoformat(),
        last=request.args.get("to", "").strip() or last.isoformat(),
        errors=errors,
        statement=found,
    )
    return page_html, 422 if errors else 200
