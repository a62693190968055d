"""Venues: the list, create and edit (with a map pin), and per venue its reward programs and
check-ins per day."""

import uuid

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from checkins.models import ProgramKind
from checkins.schemas import ProgramCreateSchema
from checkins.services import checkins_per_day, create_program, venue_programs
from core.db import get_session, utcnow
from venues.schemas import VenueCreateSchema, VenuePatchSchema, iana_timezones
from venues.services import create_venue, get_owned_venue, merchant_venues, update_venue
from web.blueprint import bp
from web.forms import Field, initial_form, read_form, show_refusal, to_body, validated
from web.pages import attempt, listing, merchant, page

VENUE_FIELDS = (
    Field("name", _l("Name"), required=True, attributes={"maxlength": 200}),
    Field(
        "lat",
        _l("Latitude"),
        "decimal",
        key="location.lat",
        required=True,
        hint=_l("Click the map to set the pin, or type the coordinates (e.g. 52.5200)."),
        attributes={"inputmode": "decimal"},
    ),
    Field(
        "lon",
        _l("Longitude"),
        "decimal",
        key="location.lon",
        required=True,
        attributes={"inputmode": "decimal"},
    ),
    Field("address", _l("Address"), nullable=True, attributes={"maxlength": 500}),
    Field("category", _l("Category"), nullable=True, attributes={"maxlength": 100}),
    Field(
        "checkin_radius_m",
        _l("Check-in radius (m)"),
        "integer",
        hint=_l("Check-ins count within this distance of the pin (10 to 1000 m)."),
        attributes={"min": 10, "max": 1000},
    ),
    Field(
        "timezone",
        _l("Time zone"),
        "select",
        hint=_l("Deals, check-ins and days at this venue are shown in its time zone."),
    ),
)
PROGRAM_FIELDS = (
    Field("kind", _l("Kind"), "select", required=True),
    Field("title", _l("Title"), required=True, attributes={"maxlength": 200}),
    Field("description", _l("Description"), "textarea", attributes={"maxlength": 2000}),
    Field(
        "threshold",
        _l("Threshold"),
        "integer",
        hint=_l(
            "every_nth: every n-th check-in; frequency: check-ins within the window; "
            "swarm: people at once; flash: the first n people."
        ),
        attributes={"min": 1},
    ),
    Field("window_days", _l("Window (days)"), "integer", attributes={"min": 1}),
    Field("window_minutes", _l("Window (minutes)"), "integer", attributes={"min": 1}),
    Field("starts_at", _l("Starts"), "datetime", hint=_l("Empty: now.")),
    Field("ends_at", _l("Ends"), "datetime", hint=_l("Empty: runs until further notice.")),
    Field("max_rewards", _l("At most this many rewards"), "integer", attributes={"min": 1}),
)
CHECKIN_DAYS = (7, 30, 90)


def venue_choices() -> dict:
    """The choices of the venue form's selects."""
    return {"timezone": sorted(iana_timezones())}


def _venue_form_page(filled, venue=None, status: int = 200):
    return (
        render_template(
            "merchant/venue_form.html",
            form=filled,
            venue=venue,
            choices=venue_choices(),
            map_tiles=current_app.config["MAP_TILE_URL"],
            map_attribution=current_app.config["MAP_TILE_ATTRIBUTION"],
        ),
        status,
    )


def venue_values(venue) -> dict:
    """A venue as the API fields its form shows."""
    point = venue.point
    return {
        "name": venue.name,
        "location.lat": point["lat"],
        "location.lon": point["lon"],
        "address": venue.address,
        "category": venue.category,
        "checkin_radius_m": venue.checkin_radius_m,
        "timezone": venue.timezone,
    }


@bp.route("/venues")
@page(read_only=True)
def venues():
    """The merchant's venues."""
    found = listing(
        lambda **page_args: merchant_venues(session=get_session(), merchant=merchant(), **page_args)
    )
    return render_template("merchant/venues.html", page=found)


@bp.route("/venues/new", methods=["GET", "POST"])
@page()
def new_venue():
    """Create a venue: a name and a pin."""
    if request.method == "GET":
        defaults = {"checkin_radius_m": 100, "timezone": "Europe/Berlin"}
        return _venue_form_page(initial_form(VENUE_FIELDS, defaults))
    filled = read_form(VENUE_FIELDS, request.form)
    data = validated(VenueCreateSchema(), filled, to_body(filled, "UTC"))
    if data is not None:
        venue, refusal = attempt(create_venue, merchant=merchant(), **data)
        if refusal is None:
            return redirect(url_for("merchant.venues"), 303)
        show_refusal(filled, refusal)
    return _venue_form_page(filled, status=422)


@bp.route("/venues/<uuid:venue_id>/edit", methods=["GET", "POST"])
@page()
def edit_venue(venue_id: uuid.UUID):
    """Change a venue (only what was changed is sent, as a PATCH would)."""
    venue = get_owned_venue(session=get_session(), venue_id=venue_id, merchant=merchant())
    shown = initial_form(VENUE_FIELDS, venue_values(venue))
    if request.method == "GET":
        return _venue_form_page(shown, venue)
    filled = read_form(VENUE_FIELDS, request.form)
    changes = validated(VenuePatchSchema(), filled, to_body(filled, "UTC", only_changed_from=shown))
    if changes is not None:
        _venue, refusal = attempt(update_venue, venue_id=venue_id, merchant=merchant(), **changes)
        if refusal is None:
            return redirect(url_for("merchant.venues"), 303)
        show_refusal(filled, refusal)
    return _venue_form_page(filled, venue, 422)


def _programs_page(venue, filled, status: int = 200):
    found = listing(
        lambda **page_args: venue_programs(session=get_session(), venue_id=venue.id, **page_args)
    )
    return (
        render_template(
            "merchant/programs.html",
            venue=venue,
            page=found,
            form=filled,
            choices={"kind": list(ProgramKind)},
        ),
        status,
    )


@bp.route("/venues/<uuid:venue_id>/programs", methods=["GET", "POST"])
@page()
def programs(venue_id: uuid.UUID):
    """A venue's reward programs, and a form for a new one."""
    venue = get_owned_venue(session=get_session(), venue_id=venue_id, merchant=merchant())
    if request.method == "GET":
        return _programs_page(venue, initial_form(PROGRAM_FIELDS, {}))
    filled = read_form(PROGRAM_FIELDS, request.form)
    data = validated(ProgramCreateSchema(), filled, to_body(filled, venue.timezone))
    if data is not None:
        _program, refusal = attempt(
            create_program,
            venue_id=venue.id,
            merchant=merchant(),
            now=utcnow(),
            cap=current_app.config["REWARD_PROGRAMS_PER_VENUE"],
            **data,
        )
        if refusal is None:
            return redirect(url_for("merchant.programs", venue_id=venue.id), 303)
        show_refusal(filled, refusal)
    return _programs_page(venue, filled, 422)


@bp.route("/venues/<uuid:venue_id>/checkins")
@page(read_only=True)
def checkins(venue_id: uuid.UUID):
    """Counted check-ins and distinct visitors per venue-local day."""
    days = request.args.get("days", type=int)
    days = days if days in CHECKIN_DAYS else CHECKIN_DAYS[1]
    session = get_session()
    venue = get_owned_venue(session=session, venue_id=venue_id, merchant=merchant())
    per_day = checkins_per_day(
        session=session, venue_id=venue.id, merchant=merchant(), days=days, now=utcnow()
    )
    return render_template(
        "merchant/checkins.html",
        venue=venue,
        per_day=per_day,
        days=days,
        choices=CHECKIN_DAYS,
        most=max([day["checkins"] for day in per_day] + [1]),
    )
