"""The one page decorator (the dashboard's transaction edge and guards) and how a page runs a
service verb so that a refusal can be shown.

`@page(...)` is to a page what `core.endpoint.endpoint` is to an API view: placed above every
other decorator, it checks the CSRF token of a form post (before anything else runs), opens the
request's unit of work (the read pool when `read_only`), signs the merchant in from the session
(or redirects to the sign-in page), counts the rate limit, then runs the view. The start-up
check (core.endpoint) refuses a view under /merchant/ declared otherwise.
"""

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import g, redirect, request, url_for
from flask_login import current_user

from core.db import get_session, open_session, unit_of_work
from core.errors import DomainError
from core.pages import PAGE_PREFIX, PageSpec
from core.ratelimit import RateLimit
from core.schemas import newest_first_page
from web.auth import csrf, unsafe_method

T = TypeVar("T")
PAGE_SIZE = 20


def page(*, public: bool = False, read_only: bool = False, rate_limit: RateLimit | None = None):
    """Declare a dashboard page: `public=True` opens without signing in (PUBLIC_PAGES);
    `read_only` for pages that write nothing; `rate_limit` per merchant. Place it above every
    other decorator of the view (the blueprint's route goes above it)."""
    if public and rate_limit is not None:
        raise ValueError("a public page has no per-merchant rate limit")
    if read_only and rate_limit is not None:
        raise ValueError("a rate limit writes: not on a read-only page")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if unsafe_method():
                csrf.protect()  # 400 without the form's token: nothing else has run
            with unit_of_work(open_session(read_only=read_only)) as session:
                g.merchant = current_user.account if current_user.is_authenticated else None
                if not public:
                    if g.merchant is None:
                        return redirect(url_for("merchant.sign_in", next=request.full_path), 303)
                    if rate_limit is not None:
                        rate_limit.count(session, g.merchant.id)
                return view(*args, **kwargs)

        wrapper.page_spec = PageSpec(wrapper, public, read_only, rate_limit)
        return wrapper

    return decorator


def attempt(verb: Callable[..., T], **kwargs) -> tuple[T | None, DomainError | None]:
    """Run a service verb in a unit of work of its own: `(result, None)` once committed, or
    `(None, error)` once rolled back when the service refused, so the page can show why.

    A phase of its own because a refusal is an answer here, not a failure of the request: the
    page goes on to render it, and nothing of the refused work may stay (a service that raised
    may have flushed half of it). Its commit also ends the phase that signed the merchant in.
    """
    session = get_session()
    try:
        with unit_of_work(session):
            return verb(session=session, **kwargs), None
    except DomainError as error:
        return None, error


def listing(fetch, **options) -> dict:
    """One page of a newest-first list, at the `cursor` of the page's query string (the API's
    cursors): `{items, next_cursor}`."""
    return newest_first_page(
        {"limit": PAGE_SIZE, "cursor": request.args.get("cursor") or None}, fetch, **options
    )


def safe_next(target: str | None, default: str) -> str:
    """Where to go after signing in: a dashboard path from `next`, never another site."""
    if target and target.startswith(PAGE_PREFIX) and not target.startswith("//"):
        return target
    return default


def merchant():
    """The signed-in merchant's account."""
    return g.merchant
