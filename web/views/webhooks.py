"""Webhooks: the list, register one (its secret shown once), delete, the delivery log and a
test event."""

import uuid

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from core.db import get_session, utcnow
from core.ratelimit import RateLimit
from notifications.models import EVENT_KINDS
from notifications.schemas import WebhookCreateSchema
from notifications.services import (
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
    send_test_event,
    webhook_deliveries,
)
from web.blueprint import bp
from web.forms import Field, initial_form, read_form, show_refusal, to_body, validated
from web.pages import attempt, listing, merchant, page

WEBHOOK_FIELDS = (
    Field(
        "url",
        _l("URL"),
        "url",
        required=True,
        hint=_l("An https address on the public internet that accepts POST requests."),
        attributes={"maxlength": 2048},
    ),
    Field(
        "events",
        _l("Events"),
        "checkboxes",
        choices=EVENT_KINDS,
        hint=_l("None ticked: every event."),
    ),
)
TEST_EVENTS = RateLimit(
    "webhook-tests", "WEBHOOK_TEST_RATE_LIMIT", "WEBHOOK_TEST_RATE_WINDOW_SECONDS"
)


def _webhooks_page(filled, status: int = 200):
    found = listing(
        lambda **page_args: list_webhooks(
            session=get_session(), account_id=merchant().id, **page_args
        )
    )
    return render_template("merchant/webhooks.html", page=found, form=filled), status


@bp.route("/webhooks", methods=["GET", "POST"])
@page()
def webhooks():
    """The merchant's webhooks, and a form to register one."""
    if request.method == "GET":
        return _webhooks_page(initial_form(WEBHOOK_FIELDS, {}))
    filled = read_form(WEBHOOK_FIELDS, request.form)
    data = validated(WebhookCreateSchema(), filled, to_body(filled, "UTC"))
    if data is not None:
        webhook, refusal = attempt(
            create_webhook,
            account_id=merchant().id,
            url=data["url"],
            events=data["events"],
            allow_loopback=current_app.config["WEBHOOK_ALLOW_LOOPBACK"],
            cap=current_app.config["WEBHOOKS_PER_ACCOUNT"],
        )
        if refusal is None:
            # Shown in this response only, as the API shows it once: never stored in the session.
            return render_template("merchant/webhook_created.html", webhook=webhook), 201
        show_refusal(filled, refusal)
    return _webhooks_page(filled, 422)


@bp.route("/webhooks/<uuid:webhook_id>")
@page(read_only=True)
def webhook(webhook_id: uuid.UUID):
    """A webhook's delivery log (also of a deleted one)."""
    session = get_session()
    found = listing(
        lambda **page_args: webhook_deliveries(
            session=session, account_id=merchant().id, webhook_id=webhook_id, **page_args
        ),
        id_type=int,
    )
    hook = get_webhook(
        session=session, account_id=merchant().id, webhook_id=webhook_id, include_deleted=True
    )
    return render_template(
        "merchant/webhook.html", webhook=hook, page=found, sent=request.args.get("sent")
    )


@bp.route("/webhooks/<uuid:webhook_id>/test", methods=["POST"])
@page(rate_limit=TEST_EVENTS)
def test_webhook(webhook_id: uuid.UUID):
    """Send a signed test event to this webhook alone."""
    send_test_event(
        session=get_session(), account_id=merchant().id, webhook_id=webhook_id, now=utcnow()
    )
    return redirect(url_for("merchant.webhook", webhook_id=webhook_id, sent=1), 303)


@bp.route("/webhooks/<uuid:webhook_id>/delete", methods=["POST"])
@page()
def remove_webhook(webhook_id: uuid.UUID):
    """Stop deliveries to a webhook (its log stays readable)."""
    delete_webhook(
        session=get_session(), account_id=merchant().id, webhook_id=webhook_id, now=utcnow()
    )
    return redirect(url_for("merchant.webhooks"), 303)
