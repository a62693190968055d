"""Server-rendered pages (the merchant dashboard, web/): what a page declares, and how the app
tells a page from an API operation.

Pages live under `PAGE_PREFIX`, sign in with a session cookie and take HTML forms with a CSRF
token; the API lives elsewhere (/api/v1, the share links) and takes bearer tokens and JSON. A
page is declared with `web.pages.page`, which marks its view with a `PageSpec` the start-up
check (core.endpoint) reads, as `endpoint` marks API views.
"""

from dataclasses import dataclass

from flask import current_app, request

from core.ratelimit import RateLimit

PAGE_PREFIX = "/merchant/"
# (method, path) of the pages anyone may open without signing in.
PUBLIC_PAGES = frozenset(
    {
        ("GET", "/merchant/sign-in"),
        ("POST", "/merchant/sign-in"),
        ("GET", "/merchant/sign-up"),
        ("POST", "/merchant/sign-up"),
        ("POST", "/merchant/language"),
        ("GET", "/merchant/static/<path:filename>"),
        ("GET", "/merchant/vendor/leaflet/<path:filename>"),
    }
)


@dataclass(frozen=True)
class PageSpec:
    """What a page declared: whether it needs a signed-in merchant, whether it writes."""

    view: object  # the decorated function, to tell whether another decorator wraps it
    public: bool
    read_only: bool
    rate_limit: RateLimit | None


def page_spec_of(view) -> PageSpec | None:
    """The declaration of a page view, or None for anything else."""
    return getattr(view, "page_spec", None)


def requested_page() -> PageSpec | None:
    """The declaration of the page the current request is routed to, if it is one."""
    return page_spec_of(current_app.view_functions.get(request.endpoint))
