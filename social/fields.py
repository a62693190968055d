"""The `share` field of check-ins and commitments, for the schemas of both domains."""

from marshmallow import fields, validate

from social.models import Audience


def share_field() -> fields.String:
    """`share` of a check-in or commitment: who besides you sees it (default private)."""
    return fields.String(
        load_default=Audience.PRIVATE.value,
        validate=validate.OneOf(list(Audience)),
        metadata={
            "description": "`friends`: your friends see it in their feed (a check-in only with "
            "its venue and time, never where you were), and a commitment counts in "
            "`viewer.friends_committed`; `private` (default): nobody does"
        },
    )
