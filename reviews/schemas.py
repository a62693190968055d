"""Request and response schemas for reviews, replies and reports."""

from marshmallow import Schema, fields, validate

from core.schemas import PageQuerySchema, ReadSchema, UtcDateTime, list_schema, plain_text
from reviews.models import ReportReason, VerifiedBy
from venues.models import RATING_MAX, RATING_MIN

MAX_TEXT = 5000
MAX_REPORT_DETAIL = 1000
SORTS = ("newest", "highest", "lowest")

stars = validate.Range(RATING_MIN, RATING_MAX)
TEXT_DOC = {
    "description": f"At most {MAX_TEXT} characters; line breaks and tabs are the only "
    "control characters allowed"
}


class ReviewPatchSchema(Schema):
    rating = fields.Integer(strict=True, validate=stars)
    text = fields.String(allow_none=True, validate=plain_text(MAX_TEXT), metadata=TEXT_DOC)


class ReviewCreateSchema(ReviewPatchSchema):
    rating = fields.Integer(strict=True, required=True, validate=stars)
    text = fields.String(
        allow_none=True, load_default=None, validate=plain_text(MAX_TEXT), metadata=TEXT_DOC
    )


class ReplyWriteSchema(Schema):
    text = fields.String(required=True, validate=plain_text(MAX_TEXT, 1), metadata=TEXT_DOC)


class ReportCreateSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(list(ReportReason)))
    detail = fields.String(
        allow_none=True, load_default=None, validate=plain_text(MAX_REPORT_DETAIL)
    )


class ReviewQuerySchema(PageQuerySchema):
    sort = fields.String(
        load_default="newest",
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "newest first; highest or lowest rating first (newest first among "
            "equal ratings)"
        },
    )


class AuthorSchema(ReadSchema):
    display_name = fields.String(required=True)


class ReplyReadSchema(ReadSchema):
    text = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    edited_at = UtcDateTime(allow_none=True, required=True)


class ReviewReadSchema(ReadSchema):
    id = fields.UUID(required=True)
    venue_id = fields.UUID(required=True)
    author = fields.Nested(AuthorSchema, required=True)
    rating = fields.Integer(required=True, validate=stars)
    text = fields.String(allow_none=True, required=True)
    verified_by = fields.String(
        required=True,
        validate=validate.OneOf(list(VerifiedBy)),
        metadata={
            "description": "The visit that verified the author: a redeemed voucher of a deal at "
            "the venue, or a counted check-in there, within the 365 days before writing"
        },
    )
    created_at = UtcDateTime(required=True)
    edited_at = UtcDateTime(allow_none=True, required=True)
    reply = fields.Nested(
        ReplyReadSchema,
        allow_none=True,
        required=True,
        metadata={"description": "The venue's merchant's reply, or null"},
    )


class ReportReadSchema(ReadSchema):
    review_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(list(ReportReason)))
    detail = fields.String(allow_none=True, required=True)
    created_at = UtcDateTime(required=True)


ReviewListSchema = list_schema(ReviewReadSchema, "ReviewList")
