"""HTTP routes for venues."""

import uuid

from flask.views import MethodView

from accounts.auth import current_account
from core.api import Blueprint
from core.db import get_session
from core.endpoint import endpoint
from core.schemas import decode_cursor, page_of
from venues import services
from venues.schemas import (
    NearbyVenueListSchema,
    VenueCreateSchema,
    VenueNearbyQuerySchema,
    VenuePatchSchema,
    VenueReadSchema,
)

blp = Blueprint("venues", __name__, url_prefix="/api/v1", description="Merchant venues")


@blp.route("/venues")
class Venues(MethodView):
    @endpoint(role="merchant", idempotent=True)
    @blp.arguments(VenueCreateSchema)
    @blp.response(201, VenueReadSchema)
    def post(self, data):
        """Create a venue."""
        return services.create_venue(session=get_session(), merchant=current_account(), **data)


@blp.route("/venues/<uuid:venue_id>")
class VenueById(MethodView):
    @endpoint(optional_auth=True, read_only=True)
    @blp.response(200, VenueReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, venue_id: uuid.UUID):
        """A venue."""
        return services.get_venue(session=get_session(), venue_id=venue_id)

    @endpoint(role="merchant")
    @blp.arguments(VenuePatchSchema)
    @blp.response(200, VenueReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, changes, venue_id: uuid.UUID):
        """Change a venue you own."""
        return services.update_venue(
            session=get_session(), venue_id=venue_id, merchant=current_account(), **changes
        )


@blp.route("/venues/nearby")
class NearbyVenues(MethodView):
    @endpoint(optional_auth=True, read_only=True)
    @blp.arguments(VenueNearbyQuerySchema, location="query")
    @blp.response(200, NearbyVenueListSchema)
    def get(self, args):
        """Venues near a point, nearest first, with `distance_m`."""
        after = decode_cursor(args["cursor"], (float, uuid.UUID)) if args["cursor"] else None
        venues = services.nearby_venues(
            session=get_session(),
            lat=args["lat"],
            lon=args["lon"],
            radius_m=args["radius_m"],
            limit=args["limit"] + 1,
            after=after,
        )
        return page_of(venues, args["limit"], lambda venue: [venue["distance_m"], str(venue["id"])])
