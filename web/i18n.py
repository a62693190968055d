"""German and English (Flask-Babel): the language of a request, and how the dashboard writes
times (in the venue's time zone), money and the API's words in it.

The catalogues are web/translations/<lang>/LC_MESSAGES/messages.po (the dashboard's own words,
extracted from web/) and api.po (the API's messages the dashboard shows: problem titles and
details, validation messages, looked up by their English text, so the API keeps one wording),
compiled to the committed .mo files beside them by `make translations`
(tests/web/test_translations.py keeps each .mo in step with its .po and every extracted string
translated).
"""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, request, session
from flask_babel import Babel, format_currency, format_date, format_datetime, gettext
from flask_babel import lazy_gettext as _l

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# The dashboard's own words (extracted from web/), and the API's messages it shows.
DOMAINS = ("messages", "api")
LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"

# The words for the API's states (a status stays its code in the API, and in the HTML's classes).
STATES = {
    "scheduled": _l("scheduled"),
    "active": _l("active"),
    "tipped": _l("tipped"),
    "closed": _l("closed"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
    "pending": _l("pending"),
    "delivered": _l("delivered"),
    "dead": _l("dead"),
    "issued": _l("issued"),
    "redeemed": _l("redeemed"),
    "void": _l("void"),
    "expired": _l("expired"),
}


def current_language() -> str:
    """The language chosen on the dashboard (kept in its session), else the browser's best."""
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


def translated(message: str) -> str:
    """One of the API's English messages in the page's language (as it is, if not in the
    catalogue: a message with values in it, such as "Only 3 unit(s) left")."""
    return gettext(str(message)) if message else message


def state(code: str) -> str:
    """A status code in words of the page's language."""
    return str(STATES.get(code, code))


def local_time(moment: datetime | None, timezone: str, *, with_zone: bool = True) -> str:
    """`moment` in the venue's time zone, written the way the page's language writes times."""
    if moment is None:
        return "–"
    local = moment.astimezone(ZoneInfo(timezone))
    # Written as the venue's wall clock: rebase=False keeps Flask-Babel from moving it again.
    written = format_datetime(local.replace(tzinfo=None), "short", rebase=False)
    return f"{written} {local.tzname()}" if with_zone else written


def local_day(day) -> str:
    """A calendar day, as the page's language writes it."""
    return format_date(day, "medium", rebase=False)


def money(cents: int | None, currency: str) -> str:
    """Minor units as the page's language writes an amount of `currency`."""
    if cents is None:
        return "–"
    return format_currency(cents / 100, currency)


def init_app(app: Flask) -> None:
    """Flask-Babel with the dashboard's catalogue; the template filters."""
    Babel(
        app,
        locale_selector=current_language,
        # Flask-Babel pairs the n-th domain with the n-th directory: both live in one.
        default_domain=";".join(DOMAINS),
        default_translation_directories=";".join(str(TRANSLATIONS) for _ in DOMAINS),
        default_locale=DEFAULT_LANGUAGE,
    )
    app.jinja_env.filters.update(
        local_time=local_time, local_day=local_day, money=money, state=state, translated=translated
    )
