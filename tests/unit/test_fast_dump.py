"""The compiled response dumper gives exactly what marshmallow's own dump gives."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields, post_dump, pre_dump

from checkins.schemas import CheckinResultSchema
from core.schemas import ReadSchema
from deals.schemas import MerchantDealSchema, NearbyDealListSchema
from notifications.schemas import NotificationListSchema
from venues.schemas import VenueReadSchema

BERLIN_TIME = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


def marshmallow_dump(schema: Schema, obj, many=None):
    return Schema.dump(schema, obj, many=many)


def deal(**overrides):
    values = dict(
        id=uuid.uuid4(),
        venue_id=uuid.uuid4(),
        merchant_id=uuid.uuid4(),
        title="-40 % Dinner",
        description=None,
        price_cents=1800,
        original_price_cents=3000,
        currency="EUR",
        point={"lat": 52.52, "lon": 13.405},
        min_commitments=10,
        max_commitments=None,
        per_user_limit=2,
        committed_count=3,
        remaining=None,
        status="active",
        tipped_at=None,
        starts_at=NOW.astimezone(BERLIN_TIME),
        ends_at=NOW + timedelta(days=2),
        redeem_until=NOW + timedelta(days=90),
        created_at=NOW,
    )
    return SimpleNamespace(**{**values, **overrides})


def test_a_page_of_nearby_deals_dumps_identically():
    page = {
        "items": [
            deal(distance_m=12.5),
            deal(
                distance_m=99.0,
                tipped_at=NOW,
                max_commitments=50,
                remaining=47,
                description="Mit Nachtisch",
            ),
        ],
        "next_cursor": "abc",
    }
    schema = NearbyDealListSchema()
    assert schema.dump(page) == marshmallow_dump(schema, page)


def test_attributes_an_object_lacks_are_left_out_as_marshmallow_does():
    schema = NearbyDealListSchema()
    page = {"items": [deal()], "next_cursor": None}  # no distance_m
    dumped = schema.dump(page)
    assert dumped == marshmallow_dump(schema, page)
    assert "distance_m" not in dumped["items"][0]


def test_nested_counts_and_lists_dump_identically():
    merchant_deal = deal(
        commitments=4, committers=3, vouchers={"issued": 2, "redeemed": 1, "void": 0, "expired": 0}
    )
    assert MerchantDealSchema().dump(merchant_deal) == marshmallow_dump(
        MerchantDealSchema(), merchant_deal
    )

    result = {
        "checkin": SimpleNamespace(
            id=uuid.uuid4(),
            venue_id=uuid.uuid4(),
            created_at=NOW,
            distance_m=8.25,
            counted=False,
            reasons=["too-far", "mock-location"],
        ),
        "rewards": [
            SimpleNamespace(
                code="7KQ3-M9XD-2VHT",
                program_id=uuid.uuid4(),
                venue_id=uuid.uuid4(),
                title="Punch card",
                status="issued",
                earned_at=NOW,
                redeemed_at=None,
            )
        ],
        "progress": [
            {
                "program_id": uuid.uuid4(),
                "kind": "every_nth",
                "title": "Punch card",
                "current": 2,
                "target": 5,
                "remaining": 3,
                "achieved": False,
            }
        ],
    }
    assert CheckinResultSchema().dump(result) == marshmallow_dump(CheckinResultSchema(), result)


def test_free_form_data_and_many_dump_identically():
    items = [
        SimpleNamespace(
            id=uuid.uuid4(),
            kind="deal.tipped",
            title="Tipped",
            body="It's on",
            data={"deal_id": "x", "n": [1, 2]},
            created_at=NOW,
            read_at=None,
        )
    ]
    page = {"items": items, "next_cursor": None}
    assert NotificationListSchema().dump(page) == marshmallow_dump(NotificationListSchema(), page)

    venues = [
        SimpleNamespace(
            id=uuid.uuid4(),
            merchant_id=uuid.uuid4(),
            name="Café",
            point={"lat": 1.0, "lon": 2.0},
            address=None,
            category="cafe",
            checkin_radius_m=100,
            timezone="UTC",
            created_at=NOW,
        )
    ]
    assert VenueReadSchema(many=True).dump(venues) == marshmallow_dump(
        VenueReadSchema(many=True), venues
    )


def test_every_response_schema_uses_the_compiled_dumper():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    names = {cls.__name__ for cls in subclasses(ReadSchema)}
    assert {
        "DealReadSchema",
        "VenueReadSchema",
        "CheckinResultSchema",
        "NotificationReadSchema",
        "AccountReadSchema",
        "VoucherReadSchema",
        "WebhookCreatedSchema",
    } <= names


def test_a_schema_asking_for_only_some_fields_dumps_identically():
    schema = VenueReadSchema(only=("id", "name"))
    venue = SimpleNamespace(id=uuid.uuid4(), name="Café", merchant_id=uuid.uuid4(), created_at=NOW)
    assert (
        schema.dump(venue)
        == marshmallow_dump(schema, venue)
        == {"id": str(venue.id), "name": "Café"}
    )


UNCOMPILABLE_SCHEMAS = {
    "a post_dump hook": lambda: {
        "name": fields.String(),
        "wrap": post_dump(lambda self, data, **kwargs: {"data": data}),
    },
    "a pre_dump hook": lambda: {
        "name": fields.String(),
        "touch": pre_dump(lambda self, obj, **kwargs: obj),
    },
    "a dump default": lambda: {"name": fields.String(dump_default="anonymous")},
    "a method field": lambda: {
        "shout": fields.Method("shout_name"),
        "shout_name": lambda self, obj: obj.name.upper(),
    },
    "numbers as strings": lambda: {"count": fields.Integer(as_string=True)},
    "a nested schema with a hook": lambda: {
        "inner": fields.Nested(
            type(
                "Inner", (Schema,), {"wrap": post_dump(lambda self, data, **kwargs: {"data": data})}
            )
        )
    },
    "an overridden attribute getter": lambda: {
        "name": fields.String(),
        "get_attribute": lambda self, obj, attr, default: "x",
    },
}


@pytest.mark.parametrize("what", UNCOMPILABLE_SCHEMAS)
def test_a_response_schema_with_what_the_compiled_dumper_cannot_do_is_refused_at_import(what):
    with pytest.raises(TypeError, match="compiled dumper"):
        type("Uncompilable", (ReadSchema,), UNCOMPILABLE_SCHEMAS[what]())
