"""The dashboard's blueprint: its navigation, security headers and error pages."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, render_template, request
from flask_babel import lazy_gettext as _l

from core.errors import handle_error
from web.i18n import LANGUAGES, current_language, translated

bp = Blueprint("merchant", __name__, url_prefix="/merchant", template_folder="templates")

# The navigation, in order: (endpoint, label). A new page adds itself here.
NAV = [
    ("merchant.deals", _l("Deals")),
    ("merchant.venues", _l("Venues")),
    ("merchant.redeem", _l("Redeem")),
    ("merchant.statement", _l("Statement")),
    ("merchant.webhooks", _l("Webhooks")),
]
STATIC_ENDPOINTS = frozenset({"merchant.static_file", "merchant.leaflet_file"})


def tile_source() -> str | None:
    """The CSP source of MAP_TILE_URL's origin (a `{s}` subdomain template as `*`), or None."""
    url = current_app.config["MAP_TILE_URL"]
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def content_security_policy() -> str:
    """Nothing but this origin, except map tiles from MAP_TILE_URL's origin."""
    images = " ".join(filter(None, ["'self'", "data:", tile_source()]))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


@bp.after_request
def security_headers(response):
    """Every dashboard response: the CSP and its companions; pages are never cached."""
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy()
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(self), geolocation=(), microphone=()"
    if request.endpoint not in STATIC_ENDPOINTS:
        headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def page_context() -> dict:
    """What every dashboard template may use."""
    return {
        "merchant": g.get("merchant"),
        "nav": NAV,
        "languages": LANGUAGES,
        "language": current_language(),
        "poll_seconds": current_app.config["DASHBOARD_POLL_SECONDS"],
    }


@bp.errorhandler(Exception)
def problem_page(exc):
    """Any error on a page, as the API would describe it (and log it), rendered as a page."""
    problem = handle_error(exc)
    body = problem.get_json()
    page = render_template(
        "merchant/error.html", title=translated(body["title"]), detail=body["detail"]
    )
    headers = {name: value for name, value in problem.headers.items() if name == "Retry-After"}
    return page, problem.status_code, headers
