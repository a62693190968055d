"""The moderation CLI: `flask --app app reviews reported|hide|keep`.

Moderators work from a shell on the servers, not through the API: no account, merchant or
customer, can hide a review.
"""

import getpass
import uuid
from datetime import UTC, datetime

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from core.db import close_session, in_unit_of_work, open_session, utcnow
from core.errors import DomainError
from core.schemas import plain_text
from reviews import services

MAX_REASON = 1000

reviews_cli = AppGroup("reviews", help="Moderate reviews: the reported ones, hide, keep.")


def _run(verb, **kwargs):
    """`verb` in a unit of work of its own; a domain error becomes the command's error."""
    try:
        return in_unit_of_work(open_session(), verb, **kwargs)
    except DomainError as error:
        raise click.ClickException(error.detail) from error
    finally:
        close_session()


def _reason(_context, _parameter, value: str) -> str:
    value = value.strip()
    try:
        for check in plain_text(MAX_REASON, 1):
            check(value)
    except ValidationError as error:
        raise click.BadParameter(" ".join(error.messages)) from error
    return value


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


REASON = click.option(
    "--reason",
    required=True,
    callback=_reason,
    help="Why (kept in the audit log; a hidden review's author is told).",
)
MODERATOR = click.option(
    "--moderator",
    default=getpass.getuser,
    show_default="the OS user",
    help="Who decides (kept in the audit log).",
)


@reviews_cli.command("reported")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def reported_command(limit: int) -> None:
    """List visible reviews with reports since the last decision, most reported first."""
    queue = _run(services.reported_reviews, limit=limit)
    if not queue:
        click.echo("No reported reviews.")
    for entry in queue:
        review = entry["review"]
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(entry["reasons"].items()))
        click.echo(
            f"{review.id}  {review.reports_count} report(s) ({reasons or 'settled'}), "
            f"last {_when(review.last_reported_at)}"
        )
        click.echo(
            f"    {review.rating}/5 for {entry['venue_name']} ({review.venue_id}) by "
            f"{entry['author']}, written {_when(review.created_at)}, "
            f"verified by {review.verified_by}"
        )
        if review.text:
            click.echo(f"    {review.text!r}")


def _decide(verb, review_id: uuid.UUID, reason: str, moderator: str):
    """A moderator's decision (`services.hide_review` or `keep_review`) on one review."""
    return _run(verb, review_id=review_id, reason=reason, moderator=moderator, now=utcnow())


@reviews_cli.command("hide")
@click.argument("review_id", type=click.UUID)
@REASON
@MODERATOR
def hide_command(review_id: uuid.UUID, reason: str, moderator: str) -> None:
    """Hide a review: out of the list and the rating, logged, its author told why."""
    review = _decide(services.hide_review, review_id, reason, moderator)
    click.echo(f"{review.id} hidden since {_when(review.hidden_at)}.")


@reviews_cli.command("keep")
@click.argument("review_id", type=click.UUID)
@REASON
@MODERATOR
def keep_command(review_id: uuid.UUID, reason: str, moderator: str) -> None:
    """Keep a reported review: its reports so far are settled, the decision logged."""
    review = _decide(services.keep_review, review_id, reason, moderator)
    click.echo(f"{review.id} kept; its reports are settled.")
