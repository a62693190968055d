"""Errors of the reviews domain (codes fixed by docs/API.md, or documented there)."""

from core.errors import Conflict, Forbidden


class NotAVerifiedVisitor(Forbidden):
    code, title = "not-a-verified-visitor", "Only verified visitors of the venue may review it"


class AlreadyReviewed(Conflict):
    code, title = "already-reviewed", "You have already reviewed this venue"


class ReviewLocked(Conflict):
    code, title = "review-locked", "The review can no longer be edited"


class ReviewHidden(Conflict):
    code, title = "review-hidden", "The review was hidden by moderation"


class OwnReview(Conflict):
    code, title = "own-review", "You cannot report your own review"
