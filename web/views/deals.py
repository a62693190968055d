"""Deals: the list with live progress bars, create, edit, cancel, and a deal's page with its
commitments over time and the share link's QR code."""

import uuid

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from core.db import get_session, utcnow
from core.errors import NotFound
from core.schemas import MAX_LIMIT
from deals.models import (
    REFERRAL_FRIENDS_MAX,
    REFERRAL_PERCENT_MAX,
    UNFINISHED_STATUSES,
    ReferralKind,
)
from deals.rules import TERMS
from deals.schemas import DealCreateSchema, DealPatchSchema
from deals.services import (
    TEXT_FIELDS,
    commitment_timeline,
    create_deal,
    get_owned_deal,
    merchant_deals,
    owned_deals_by_id,
    update_deal,
)
from payments.services import cancel_deal
from social.services import account_share, share_deal, share_url
from venues.services import get_owned_venue, merchant_venues, owned_venues_by_id
from web.blueprint import bp
from web.charts import step_chart
from web.forms import Field, initial_form, read_form, show_refusal, to_body, validated
from web.i18n import state
from web.pages import attempt, listing, merchant, page

TERM_FIELDS = (
    Field("title", _l("Title"), required=True, attributes={"maxlength": 200}),
    Field("description", _l("Description"), "textarea", nullable=True),
    Field(
        "price",
        _l("Price"),
        "amount",
        key="price_cents",
        required=True,
        attributes={"inputmode": "decimal"},
    ),
    Field(
        "original_price",
        _l("Original price"),
        "amount",
        key="original_price_cents",
        nullable=True,
        hint=_l("Shown struck through, for the discount."),
        attributes={"inputmode": "decimal"},
    ),
    Field("currency", _l("Currency"), attributes={"maxlength": 3, "autocapitalize": "characters"}),
    Field(
        "min_commitments",
        _l("Tipping point (units)"),
        "integer",
        required=True,
        hint=_l("The deal is on once this many units are committed."),
        attributes={"min": 1},
    ),
    Field(
        "max_commitments",
        _l("Cap (units)"),
        "integer",
        nullable=True,
        hint=_l("Empty: no cap."),
        attributes={"min": 1},
    ),
    Field("per_user_limit", _l("Units per customer"), "integer", attributes={"min": 1}),
    Field("starts_at", _l("Starts"), "datetime", hint=_l("Empty: now.")),
    Field("ends_at", _l("Ends"), "datetime", required=True),
    Field(
        "redeem_until", _l("Redeemable until"), "datetime", hint=_l("Empty: 90 days after the end.")
    ),
    Field(
        "referral_kind",
        _l("Referral reward"),
        "select",
        key="referral.kind",
        hint=_l("What people earn whose share link brings customers."),
    ),
    Field(
        "referral_percent",
        _l("Commission (percent)"),
        "integer",
        key="referral.percent",
        hint=_l("For a commission: the sharer's percent of each unit they bring (1 to 50)."),
        attributes={"min": 1, "max": REFERRAL_PERCENT_MAX},
    ),
    Field(
        "referral_friends",
        _l("Friends to bring"),
        "integer",
        key="referral.friends",
        hint=_l("For bring friends: this many friends buy, and the sharer's own units are free."),
        attributes={"min": 1, "max": REFERRAL_FRIENDS_MAX},
    ),
    Field(
        "new_customers_only",
        _l("Referral rewards only for customers new to you"),
        "checkbox",
    ),
)
NO_REFERRAL = "none"
# The one member each kind of referral has (the API refuses any other).
REFERRAL_MEMBERS = {ReferralKind.COMMISSION: "percent", ReferralKind.BRING_FRIENDS: "friends"}
REFERRAL_CHOICES = (
    (NO_REFERRAL, _l("None")),
    (ReferralKind.COMMISSION.value, _l("Commission on each unit they bring")),
    (ReferralKind.BRING_FRIENDS.value, _l("Bring friends, get your own units free")),
)
CREATE_FIELDS = (Field("venue_id", _l("Venue"), "select", required=True), *TERM_FIELDS)


def progress_of(deal) -> dict:
    """What a deal's progress bars show (also the live update's JSON)."""
    return {
        "id": str(deal.id),
        "status": deal.status,
        "status_label": state(deal.status),
        "committed_count": deal.committed_count,
        "min_commitments": deal.min_commitments,
        "max_commitments": deal.max_commitments,
        "tipped": deal.tipped_at is not None,
    }


def _venue_choices() -> list:
    return merchant_venues(session=get_session(), merchant=merchant(), limit=MAX_LIMIT)


def _deal_form_page(filled, deal=None, venue=None, status: int = 200):
    return (
        render_template(
            "merchant/deal_form.html",
            form=filled,
            deal=deal,
            venue=venue,
            choices={
                "venue_id": [(str(v.id), v.name) for v in _venue_choices()],
                "referral_kind": REFERRAL_CHOICES,
            },
        ),
        status,
    )


@bp.route("/")
@page(read_only=True)
def deals():
    """The merchant's deals, newest first, with their progress (updated live)."""
    session = get_session()
    found = listing(
        lambda **page_args: merchant_deals(session=session, merchant=merchant(), **page_args)
    )
    venues = owned_venues_by_id(
        session=session, merchant=merchant(), venue_ids={deal.venue_id for deal in found["items"]}
    )
    return render_template("merchant/deals.html", page=found, venues=venues)


@bp.route("/deals/progress")
@page(read_only=True)
def deal_progress():
    """The live state of the merchant's deals named by `id` (polled by the pages' script)."""
    ids = []
    for raw in request.args.getlist("id")[:MAX_LIMIT]:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    found = owned_deals_by_id(session=get_session(), merchant=merchant(), deal_ids=ids)
    return jsonify({"deals": [progress_of(deal) for deal in found]})


@bp.route("/deals/new", methods=["GET", "POST"])
@page()
def new_deal():
    """Create a deal at one of the merchant's venues."""
    if request.method == "GET":
        chosen = request.args.get("venue_id")
        return _deal_form_page(
            initial_form(
                CREATE_FIELDS,
                {"venue_id": chosen, "currency": "EUR", "referral.kind": NO_REFERRAL},
            )
        )
    filled = read_form(CREATE_FIELDS, request.form)
    timezone = _venue_timezone(filled.values["venue_id"])
    data = validated(DealCreateSchema(), filled, with_referral(to_body(filled, timezone)))
    if data is not None:
        deal, refusal = attempt(create_deal, merchant=merchant(), now=utcnow(), **data)
        if refusal is None:
            return redirect(url_for("merchant.deal", deal_id=deal.id), 303)
        show_refusal(filled, refusal)
    return _deal_form_page(filled, status=422)


def _venue_timezone(venue_id: str) -> str:
    """The time zone the form's times are in: the chosen venue's (UTC until one is chosen; an
    unknown venue is the service's to refuse)."""
    try:
        venue = get_owned_venue(
            session=get_session(), venue_id=uuid.UUID(venue_id), merchant=merchant()
        )
    except (ValueError, NotFound):
        return "UTC"
    return venue.timezone


def _deal_and_venue(deal_id: uuid.UUID):
    session = get_session()
    deal = get_owned_deal(session=session, deal_id=deal_id, merchant=merchant())
    venue = get_owned_venue(session=session, venue_id=deal.venue_id, merchant=merchant())
    return deal, venue


@bp.route("/deals/<uuid:deal_id>")
@page(read_only=True)
def deal(deal_id: uuid.UUID):
    """A deal: live progress, commitments over time, the share link and its QR code."""
    deal, venue = _deal_and_venue(deal_id)
    now = utcnow()
    changes = commitment_timeline(session=get_session(), deal_id=deal.id, merchant=merchant())
    chart = step_chart(
        changes,
        start=deal.starts_at,  # an hour's units are drawn from its start or the deal's
        end=max(min(now, deal.ends_at), deal.starts_at),
        marks={"tip": deal.min_commitments, "cap": deal.max_commitments},
    )
    share = account_share(session=get_session(), account=merchant(), deal_id=deal.id)
    return render_template(
        "merchant/deal.html",
        deal=deal,
        venue=venue,
        chart=chart,
        changes=changes,
        share=share,
        share_link=share_url(share.code) if share else None,
        cancellable=deal.status in UNFINISHED_STATUSES and deal.ends_at > now,
    )


@bp.route("/deals/<uuid:deal_id>/share", methods=["POST"])
@page()
def share(deal_id: uuid.UUID):
    """Make the merchant's share link of a deal (for a poster's QR code); one per deal."""
    deal, _venue = _deal_and_venue(deal_id)
    share_deal(session=get_session(), deal_id=deal.id, account=merchant())
    return redirect(url_for("merchant.deal", deal_id=deal.id, _anchor="share"), 303)


def deal_values(deal) -> dict:
    """A deal's terms as the API fields its form shows (the referral's members dotted)."""
    values = {name: getattr(deal, name) for name in (*TEXT_FIELDS, *TERMS)}
    referral = deal.referral or {"kind": NO_REFERRAL}
    values.update({f"referral.{name}": value for name, value in referral.items()})
    return values


def with_referral(body: dict) -> dict:
    """The form's referral inputs in the API's shape: null for no reward, else the kind with
    the member of its kind only (left out when empty, so the API says it is required)."""
    referral = body.get("referral")
    if referral is None:
        return body
    kind = referral.get("kind")
    if kind == NO_REFERRAL:
        body["referral"] = None
    elif kind in REFERRAL_MEMBERS:
        member = REFERRAL_MEMBERS[kind]
        body["referral"] = {"kind": kind}
        if referral.get(member, "") != "":
            body["referral"][member] = referral[member]
    return body


@bp.route("/deals/<uuid:deal_id>/edit", methods=["GET", "POST"])
@page()
def edit_deal(deal_id: uuid.UUID):
    """Change a deal: what changed is sent as a PATCH would (terms only before the first
    commitment; title and description any time)."""
    deal, venue = _deal_and_venue(deal_id)
    shown = initial_form(TERM_FIELDS, deal_values(deal), venue.timezone)
    if request.method == "GET":
        return _deal_form_page(shown, deal, venue)
    filled = read_form(TERM_FIELDS, request.form)
    body = with_referral(to_body(filled, venue.timezone, only_changed_from=shown))
    changes = validated(DealPatchSchema(), filled, body)
    if changes is not None:
        _deal, refusal = attempt(
            update_deal, deal_id=deal.id, merchant=merchant(), now=utcnow(), **changes
        )
        if refusal is None:
            return redirect(url_for("merchant.deal", deal_id=deal.id), 303)
        show_refusal(filled, refusal)
    return _deal_form_page(filled, deal, venue, 422 if filled.errors else 200)


@bp.route("/deals/<uuid:deal_id>/cancel", methods=["GET", "POST"])
@page()
def cancel(deal_id: uuid.UUID):
    """Cancel a deal, after asking: commitments released, vouchers void, committers told."""
    deal, venue = _deal_and_venue(deal_id)
    if request.method == "GET":
        return render_template("merchant/cancel.html", deal=deal, venue=venue, refusal=None)
    _deal, refusal = attempt(cancel_deal, deal_id=deal.id, merchant=merchant(), now=utcnow())
    if refusal is None:
        return redirect(url_for("merchant.deal", deal_id=deal.id), 303)
    return render_template(
        "merchant/cancel.html", deal=deal, venue=venue, refusal=refusal
    ), refusal.status
