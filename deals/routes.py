"""HTTP routes for deals, commitments and vouchers."""

import uuid
from functools import partial

from flask import jsonify, request
from flask.views import MethodView

from accounts.auth import current_account, signed_in_account
from core.api import Blueprint
from core.db import get_session, utcnow
from core.endpoint import endpoint
from core.ratelimit import RateLimit
from core.schemas import PageQuerySchema, decode_cursor, newest_first_page, page_of
from deals import services
from deals.schemas import (
    BboxQuerySchema,
    CommitmentCreateSchema,
    CommitmentListSchema,
    CommitmentResultSchema,
    DealCreateSchema,
    DealListingSchema,
    DealListSchema,
    DealNearbyQuerySchema,
    DealPatchSchema,
    DealReadSchema,
    MerchantDealListSchema,
    MerchantDealQuerySchema,
    NearbyDealListSchema,
    NearbyDealSchema,
    PaymentPendingSchema,
    VoucherListSchema,
    VoucherReadSchema,
    WithdrawalResultSchema,
)
from geo.geojson import feature_collection, point_feature
from payments import services as checkout
from social.services import with_social_proof

blp = Blueprint(
    "deals", __name__, url_prefix="/api/v1", description="Deals, commitments and vouchers"
)

GEOJSON = "application/geo+json"


def _wants_geojson() -> bool:
    return request.accept_mimetypes.best_match(["application/json", GEOJSON]) == GEOJSON


def _as_geojson(page: dict):
    schema = NearbyDealSchema()
    features = []
    for deal in page["items"]:
        properties = schema.dump(deal)
        location = properties.pop("location")
        features.append(point_feature(location["lat"], location["lon"], deal["id"], properties))
    response = jsonify(feature_collection(features, next_cursor=page["next_cursor"]))
    response.mimetype = GEOJSON
    return response


def _with_social_proof(session, page: dict, now) -> dict:
    with_social_proof(session=session, deals=page["items"], viewer=signed_in_account(), now=now)
    return page


@blp.route("/deals")
class Deals(MethodView):
    @endpoint(role="merchant", idempotent=True)
    @blp.arguments(DealCreateSchema)
    @blp.response(201, DealReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data):
        """Create a deal at one of your venues."""
        return services.create_deal(
            session=get_session(), merchant=current_account(), now=utcnow(), **data
        )

    @endpoint(optional_auth=True, read_only=True)
    @blp.arguments(BboxQuerySchema, location="query")
    @blp.response(200, DealListSchema)
    def get(self, args):
        """Open deals inside a map viewport (`minLon > maxLon` crosses the antimeridian)."""
        after = decode_cursor(args["cursor"], (uuid.UUID,))[0] if args["cursor"] else None
        session, now = get_session(), utcnow()
        deals = services.deals_in_bbox(
            session=session, bbox=args["bbox"], limit=args["limit"] + 1, now=now, after=after
        )
        page = page_of(deals, args["limit"], lambda deal: [str(deal["id"])])
        return _with_social_proof(session, page, now)


@blp.route("/deals/nearby")
class NearbyDeals(MethodView):
    @endpoint(optional_auth=True, read_only=True)
    @blp.arguments(DealNearbyQuerySchema, location="query")
    @blp.response(200, NearbyDealListSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type=GEOJSON,
        description="GeoJSON FeatureCollection (send Accept: application/geo+json)",
    )
    def get(self, args):
        """Open deals near a point, nearest first, with `distance_m`."""
        after = decode_cursor(args["cursor"], (float, uuid.UUID)) if args["cursor"] else None
        session, now = get_session(), utcnow()
        deals = services.nearby_deals(
            session=session,
            lat=args["lat"],
            lon=args["lon"],
            radius_m=args["radius_m"],
            limit=args["limit"] + 1,
            now=now,
            after=after,
        )
        page = page_of(deals, args["limit"], lambda deal: [deal["distance_m"], str(deal["id"])])
        page = _with_social_proof(session, page, now)
        return _as_geojson(page) if _wants_geojson() else page


@blp.route("/deals/<uuid:deal_id>")
class DealById(MethodView):
    @endpoint(optional_auth=True, read_only=True)
    @blp.response(200, DealListingSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, deal_id: uuid.UUID):
        """A deal."""
        session = get_session()
        deal = services.get_deal(session=session, deal_id=deal_id)
        with_social_proof(session=session, deals=[deal], viewer=signed_in_account(), now=utcnow())
        return deal

    @endpoint(role="merchant")
    @blp.arguments(DealPatchSchema)
    @blp.response(200, DealReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, changes, deal_id: uuid.UUID):
        """Change your deal (terms only before the first commitment)."""
        return services.update_deal(
            session=get_session(),
            deal_id=deal_id,
            merchant=current_account(),
            now=utcnow(),
            **changes,
        )


@blp.route("/deals/<uuid:deal_id>/cancel")
class CancelDeal(MethodView):
    @endpoint(role="merchant")
    @blp.response(200, DealReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, deal_id: uuid.UUID):
        """Cancel your deal: commitments released, payments released or refunded, vouchers void."""
        return checkout.cancel_deal(
            session=get_session(), deal_id=deal_id, merchant=current_account(), now=utcnow()
        )


@blp.route("/merchant/deals")
class MerchantDeals(MethodView):
    @endpoint(role="merchant", read_only=True)
    @blp.arguments(MerchantDealQuerySchema, location="query")
    @blp.response(200, MerchantDealListSchema)
    def get(self, args):
        """Your deals, any status, newest first, with commitment and voucher counts."""
        session = get_session()
        page = newest_first_page(
            args,
            partial(
                services.merchant_deals,
                session=session,
                merchant=current_account(),
                status=args.get("status"),
            ),
        )
        with_social_proof(session=session, deals=page["items"], viewer=None, now=utcnow())
        return page


@blp.route("/deals/<uuid:deal_id>/commitments")
class Commitments(MethodView):
    @endpoint(
        role="customer",
        idempotent=True,
        rate_limit=RateLimit("commitments", "COMMIT_RATE_LIMIT", "COMMIT_RATE_WINDOW_SECONDS"),
    )
    @blp.arguments(CommitmentCreateSchema)
    @blp.response(201, CommitmentResultSchema)
    @blp.alt_response(
        202,
        schema=PaymentPendingSchema,
        description="The card needs the customer's confirmation (3-D Secure): confirm it with "
        "`payment.client_secret`, then POST /payments/{id}/confirm; no unit counts until then",
    )
    @blp.alt_response(402, response="PAYMENT_REQUIRED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data, deal_id: uuid.UUID):
        """Commit to units of a deal (paying for them online when payments are configured)."""
        return checkout.commit_to_deal(
            session=get_session(),
            deal_id=deal_id,
            account=current_account(),
            quantity=data["quantity"],
            payment_method=data.get("payment_method"),
            now=utcnow(),
            share_code=data["share_code"],
            share=data["share"],
        )


@blp.route("/deals/<uuid:deal_id>/commitments/mine")
class MyDealCommitments(MethodView):
    @endpoint(role="customer")
    @blp.response(200, WithdrawalResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, deal_id: uuid.UUID):
        """Withdraw your commitments before the deal tips (their card holds are released)."""
        released, deal = checkout.withdraw(
            session=get_session(), deal_id=deal_id, account=current_account(), now=utcnow()
        )
        return {"released_quantity": released, "deal": deal}


@blp.route("/me/commitments")
class MyCommitments(MethodView):
    @endpoint(role="customer", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, CommitmentListSchema)
    def get(self, args):
        """Your commitments, newest first."""
        return newest_first_page(
            args, partial(services.my_commitments, session=get_session(), account=current_account())
        )


@blp.route("/me/vouchers")
class MyVouchers(MethodView):
    @endpoint(role="customer", read_only=True)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, VoucherListSchema)
    def get(self, args):
        """Your vouchers, newest first."""
        return newest_first_page(
            args, partial(services.my_vouchers, session=get_session(), account=current_account())
        )


@blp.route("/vouchers/<string:code>/redeem")
class RedeemVoucher(MethodView):
    @endpoint(role="merchant")
    @blp.response(200, VoucherReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, code: str):
        """Redeem a voucher of one of your deals."""
        return services.redeem_voucher(
            session=get_session(), code=code, merchant=current_account(), now=utcnow()
        )
