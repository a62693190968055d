"""HTTP routes for the in-app inbox."""

import uuid
from functools import partial

from flask import current_app
from flask.views import MethodView

from accounts.auth import current_account
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.schemas import PageQuerySchema, newest_first_page
from notifications import services
from notifications.schemas import (
    AlertAreaCreateSchema,
    AlertAreaListSchema,
    AlertAreaReadSchema,
    DeliveryListSchema,
    DeviceCreateSchema,
    DeviceReadSchema,
    NotificationListSchema,
    NotificationReadSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookListSchema,
    WebhookReadSchema,
)

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1",
    description="Inbox, devices, webhooks and alert areas",
)


@blp.route("/me/notifications")
class MyNotifications(MethodView):
    @endpoint(read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, NotificationListSchema)
    def get(self, args):
        """Your notifications, newest first."""
        return newest_first_page(
            args,
            partial(
                services.list_notifications, session=get_session(), account_id=current_account().id
            ),
        )


@blp.route("/me/notifications/<uuid:notification_id>/read")
class ReadNotification(MethodView):
    @endpoint()
    @blp.response(200, NotificationReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, notification_id: uuid.UUID):
        """Mark a notification read."""
        return services.mark_read(
            session=get_session(),
            account_id=current_account().id,
            notification_id=notification_id,
            now=utcnow(),
        )


@blp.route("/me/devices")
class MyDevices(MethodView):
    @endpoint(idempotent=True)
    @blp.arguments(DeviceCreateSchema)
    @blp.response(201, DeviceReadSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Register a device for push notifications."""
        return services.register_device(
            session=get_session(),
            account_id=current_account().id,
            cap=current_app.config["DEVICES_PER_ACCOUNT"],
            **data,
        )


@blp.route("/me/devices/<uuid:device_id>")
class MyDevice(MethodView):
    @endpoint()
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, device_id: uuid.UUID):
        """Unregister a device."""
        services.remove_device(
            session=get_session(), account_id=current_account().id, device_id=device_id
        )


@blp.route("/webhooks")
class Webhooks(MethodView):
    @endpoint(role="merchant", idempotent=True, redact=("secret",))
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Register a webhook; the signing secret is shown only in this response."""
        return services.create_webhook(
            session=get_session(),
            account_id=current_account().id,
            url=data["url"],
            events=data["events"],
            allow_loopback=current_app.config["WEBHOOK_ALLOW_LOOPBACK"],
            cap=current_app.config["WEBHOOKS_PER_ACCOUNT"],
        )

    @endpoint(role="merchant", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, WebhookListSchema)
    def get(self, args):
        """Your webhooks, newest first."""
        return newest_first_page(
            args,
            partial(services.list_webhooks, session=get_session(), account_id=current_account().id),
        )


@blp.route("/webhooks/<uuid:webhook_id>")
class WebhookById(MethodView):
    @endpoint(role="merchant", read_only=True)
    @blp.response(200, WebhookReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, webhook_id: uuid.UUID):
        """One of your webhooks."""
        return services.get_webhook(
            session=get_session(), account_id=current_account().id, webhook_id=webhook_id
        )

    @endpoint(role="merchant")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, webhook_id: uuid.UUID):
        """Delete a webhook (no further deliveries)."""
        services.delete_webhook(
            session=get_session(),
            account_id=current_account().id,
            webhook_id=webhook_id,
            now=utcnow(),
        )


@blp.route("/webhooks/<uuid:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @endpoint(role="merchant", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, DeliveryListSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, webhook_id: uuid.UUID):
        """A webhook's deliveries, newest first, with attempts and last error."""
        return newest_first_page(
            args,
            partial(
                services.webhook_deliveries,
                session=get_session(),
                account_id=current_account().id,
                webhook_id=webhook_id,
            ),
            id_type=int,
        )


@blp.route("/me/alert-areas")
class MyAlertAreas(MethodView):
    @endpoint(role="customer", idempotent=True)
    @blp.arguments(AlertAreaCreateSchema)
    @blp.response(201, AlertAreaReadSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Watch an area for deals that open or are about to tip."""
        return services.create_alert_area(
            session=get_session(),
            account_id=current_account().id,
            label=data.get("label"),
            lat=data["location"]["lat"],
            lon=data["location"]["lon"],
            radius_m=data["radius_m"],
            cap=current_app.config["ALERT_AREAS_PER_ACCOUNT"],
        )

    @endpoint(role="customer", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, AlertAreaListSchema)
    def get(self, args):
        """Your alert areas, newest first."""
        return newest_first_page(
            args,
            partial(
                services.list_alert_areas, session=get_session(), account_id=current_account().id
            ),
        )


@blp.route("/me/alert-areas/<uuid:area_id>")
class MyAlertArea(MethodView):
    @endpoint(role="customer")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, area_id: uuid.UUID):
        """Stop watching an area."""
        services.delete_alert_area(
            session=get_session(), account_id=current_account().id, area_id=area_id
        )
