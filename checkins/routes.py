"""HTTP routes for check-ins, reward programs and rewards."""

import uuid
from functools import partial

from flask import current_app
from flask.views import MethodView

from accounts.auth import current_account
from checkins import services
from checkins.schemas import (
    CheckinCreateSchema,
    CheckinListSchema,
    CheckinResultSchema,
    ProgramCreateSchema,
    ProgramListSchema,
    ProgramReadSchema,
    RewardListSchema,
    RewardReadSchema,
)
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.ratelimit import RateLimit
from core.schemas import PageQuerySchema, newest_first_page

blp = Blueprint("checkins", __name__, url_prefix="/api/v1", description="Check-ins and rewards")


@blp.route("/venues/<uuid:venue_id>/checkins")
class VenueCheckins(MethodView):
    @endpoint(
        role="customer",
        idempotent=True,
        rate_limit=RateLimit("checkins", "CHECKIN_RATE_LIMIT", "CHECKIN_RATE_WINDOW_SECONDS"),
    )
    @blp.arguments(CheckinCreateSchema)
    @blp.response(201, CheckinResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data, venue_id: uuid.UUID):
        """Check in at a venue; see whether it counted, what it earned and your progress."""
        checkin, rewards, progress = services.check_in(
            session=get_session(),
            venue_id=venue_id,
            account=current_account(),
            lat=data["location"]["lat"],
            lon=data["location"]["lon"],
            accuracy_m=data.get("accuracy_m"),
            is_mock=data["is_mock"],
            message=data.get("message"),
            now=utcnow(),
            share=data["share"],
            friend_notices_per_day=current_app.config["FRIEND_CHECKIN_NOTICES_PER_DAY"],
        )
        return {"checkin": checkin, "rewards": rewards, "progress": progress}


@blp.route("/me/checkins")
class MyCheckins(MethodView):
    @endpoint(role="customer", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, CheckinListSchema)
    def get(self, args):
        """Your check-ins, newest first."""
        return newest_first_page(
            args, partial(services.my_checkins, session=get_session(), account=current_account())
        )


@blp.route("/venues/<uuid:venue_id>/reward-programs")
class VenuePrograms(MethodView):
    @endpoint(role="merchant", idempotent=True)
    @blp.arguments(ProgramCreateSchema)
    @blp.response(201, ProgramReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, venue_id: uuid.UUID):
        """Create a reward program at your venue."""
        return services.create_program(
            session=get_session(),
            venue_id=venue_id,
            merchant=current_account(),
            now=utcnow(),
            cap=current_app.config["REWARD_PROGRAMS_PER_VENUE"],
            **data,
        )

    @endpoint(optional_auth=True, read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, ProgramListSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, venue_id: uuid.UUID):
        """The venue's reward programs, newest first."""
        return newest_first_page(
            args, partial(services.venue_programs, session=get_session(), venue_id=venue_id)
        )


@blp.route("/me/rewards")
class MyRewards(MethodView):
    @endpoint(role="customer", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, RewardListSchema)
    def get(self, args):
        """Your rewards, newest first."""
        return newest_first_page(
            args,
            partial(services.my_rewards, session=get_session(), account=current_account()),
            created_attribute="earned_at",
        )


@blp.route("/rewards/<string:code>/redeem")
class RedeemReward(MethodView):
    @endpoint(role="merchant")
    @blp.response(200, RewardReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, code: str):
        """Redeem a reward earned at one of your venues."""
        return services.redeem_reward(
            session=get_session(), code=code, merchant=current_account(), now=utcnow()
        )
