"""HTTP routes for the in-app inbox."""
import uuid

from flask.views import MethodView
from flask_smorest import Blueprint

from accounts.auth import auth_required, current_account
from core.db import get_session, utcnow
from core.schemas import PageQuerySchema, decode_cursor, page_of, parse_datetime
from notifications import services
from notifications.schemas import NotificationListSchema, NotificationReadSchema

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="In-app inbox")


@blp.route("/me/notifications")
class MyNotifications(MethodView):
    @auth_required()
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, NotificationListSchema)
    def get(self, args):
        """Your notifications, newest first."""
        after = decode_cursor(args["cursor"], (parse_datetime, uuid.UUID)) if args["cursor"] else None
        rows = services.list_notifications(
            session=get_session(), account_id=current_account().id,
            limit=args["limit"] + 1, after=after,
        )
        return page_of(rows, args["limit"], lambda n: [n.created_at.isoformat(), str(n.id)])


@blp.route("/me/notifications/<uuid:notification_id>/read")
class ReadNotification(MethodView):
    @auth_required()
    @blp.response(200, NotificationReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, notification_id: uuid.UUID):
        """Mark a notification read."""
        return services.mark_read(
            session=get_session(), account_id=current_account().id,
            notification_id=notification_id, now=utcnow(),
        )
