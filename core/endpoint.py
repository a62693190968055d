"""The one endpoint decorator, the transaction edge of a request, and its start-up check.

`@endpoint(...)` composes, in the one correct order, everything a view needs around it:
a unit of work (one transaction, or the read pool when `read_only`), then authentication and
the role (the token is read in the unit's session, so a request uses one connection, and
nothing is written before it passes), then the idempotency key (its scope is the authenticated
account, so it must come after authentication), then the rate limit (after idempotency: a
replay does not count), then the view. Services flush and raise; the unit of work commits once when the view returns and
rolls back on any error, the idempotency record and the rate-limit hit included.

A rate limit that `counts_refused` is counted before all of this, in a unit of work of its own
(authenticating there too), so refused requests count: a limit against guessing.

`optional_auth=True` declares a public read: without an `Authorization` header it answers
anonymously (counted against the anonymous limit of the client's network); with one, the token
must be valid (401 otherwise, never silently anonymous) and the request is the account's.

`check_endpoints` runs at app start and refuses an app in which a view is not declared this
way (or has a decorator above it), a protected view lacks authentication, a public read is not
on its allow-list, or a creating POST lacks idempotency. The dashboard's pages (core.pages,
under `PAGE_PREFIX`) are checked by the same walk for their own declaration instead: a page is
never an API operation and an API operation is never a page, and a page open to anyone is on
`PUBLIC_PAGES`.
"""

import re
from dataclasses import dataclass
from functools import wraps

from flask import Flask, current_app, request

from accounts.auth import BEARER, authenticate_request
from core.api import document_responses
from core.db import open_session, unit_of_work
from core.idempotency import replay_or_run
from core.keys import hashed_client
from core.pages import PAGE_PREFIX, PUBLIC_PAGES, page_spec_of
from core.ratelimit import RateLimit

# (method, path) of the views anyone may call without a token.
PUBLIC = frozenset(
    {
        ("POST", "/api/v1/accounts"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/docs"),
        ("GET", "/api/docs/assets/<path:filename>"),
        # Stripe calls it; the request is trusted by its signature, not by a token.
        ("POST", "/api/v1/payments/stripe/webhook"),
    }
)
# (method, path) of the public reads: a token is optional (see `optional_auth`).
OPTIONAL_AUTH = frozenset(
    {
        ("GET", "/api/v1/deals"),
        ("GET", "/api/v1/deals/nearby"),
        ("GET", "/api/v1/deals/<uuid:deal_id>"),
        ("GET", "/api/v1/venues/nearby"),
        ("GET", "/api/v1/venues/<uuid:venue_id>"),
        ("GET", "/api/v1/venues/<uuid:venue_id>/reward-programs"),
        ("GET", "/api/v1/venues/<uuid:venue_id>/reviews"),
        ("GET", "/s/<string:code>"),
        ("GET", "/s/<string:code>/qr.svg"),
    }
)
# Anonymous requests, per client network (IPv4 address or IPv6 /64): generous, because many
# phones share one carrier NAT address.
ANONYMOUS_RATE_LIMIT = RateLimit(
    "anonymous", "ANONYMOUS_RATE_LIMIT", "ANONYMOUS_RATE_WINDOW_SECONDS"
)
# Optional bearer: no security requirement, or the bearer token.
OPTIONAL_BEARER = [{}, *BEARER]
# Creating POSTs without idempotency, and why.
NOT_IDEMPOTENT = {
    ("POST", "/api/v1/tokens"): "a retried login issues another token; storing the response "
    "would keep a bearer token",
}
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})  # HEAD runs the GET view; OPTIONS is Flask's


class EndpointMisconfigured(RuntimeError):
    """An app whose views are not all declared with `endpoint` as the start-up check wants."""


@dataclass(frozen=True)
class EndpointSpec:
    """What a view declared: who may call it and what guards it."""

    view: object  # the decorated function, to tell whether another decorator wraps it
    public: bool
    optional_auth: bool
    role: str | None
    idempotent: bool
    rate_limit: RateLimit | None
    read_only: bool


def endpoint(
    *,
    role: str | None = None,
    public: bool = False,
    optional_auth: bool = False,
    idempotent: bool = False,
    redact: tuple[str, ...] = (),
    rate_limit: RateLimit | None = None,
    read_only: bool = False,
):
    """Declare a view: `role` (None: any account), `public=True` (no token at all) or
    `optional_auth=True` (a public read: token optional, anonymous requests rate-limited per
    client network); `idempotent` (with `redact`, see core.idempotency) for creating POSTs;
    `rate_limit` per account; `read_only` for views that write nothing. Place it above every
    other decorator of the view.
    """
    if (public or optional_auth) and (role is not None or rate_limit is not None):
        raise ValueError("a public endpoint has no role and no per-account rate limit")
    if optional_auth and (public or idempotent):
        raise ValueError("optional_auth is a public read: not public=True, not idempotent")
    if redact and not idempotent:
        raise ValueError("redact names fields of a stored response: only with idempotent=True")
    if read_only and (idempotent or rate_limit is not None):
        raise ValueError("idempotency keys and rate limits write: not on a read-only endpoint")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            anonymous = public or (optional_auth and "Authorization" not in request.headers)
            if optional_auth and anonymous:
                # The hit must write, and a read-only view's session cannot: it gets a short unit
                # of work of its own on the write pool, before the read (one connection at a
                # time). Committed at once, it counts even if the read then fails, which is what
                # a budget against scraping wants.
                with unit_of_work(open_session()) as counting:
                    ANONYMOUS_RATE_LIMIT.count(counting, hashed_client())
            if rate_limit is not None and rate_limit.counts_refused:
                # The hit must stay even if the request is then refused (a guess that found
                # nothing): counted, and committed, in a short unit of work of its own first.
                with unit_of_work(open_session()) as counting:
                    rate_limit.count(counting, authenticate_request(counting, role).id)
            with unit_of_work(open_session(read_only=read_only)) as session:
                account = None if anonymous else authenticate_request(session, role)

                def run():
                    if rate_limit is not None and not rate_limit.counts_refused:
                        rate_limit.count(session, account.id)
                    return current_app.ensure_sync(view)(*args, **kwargs)

                return replay_or_run(session, run, redact=redact) if idempotent else run()

        if public:
            declared = wrapper
        elif optional_auth:
            declared = document_responses(wrapper, [401, 429], security=OPTIONAL_BEARER)
        else:
            declared = document_responses(wrapper, [401, 403] if role else [401], security=BEARER)
        # Marked last, on what the view really is: the start-up check compares identities.
        declared.endpoint_spec = EndpointSpec(
            declared, public, optional_auth, role, idempotent, rate_limit, read_only
        )
        return declared

    return decorator


def _handler(app: Flask, rule, method: str):
    view = app.view_functions[rule.endpoint]
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, method.lower(), None) if view_class is not None else view


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _declaration_problems(where: str, spec, handler, public: bool, kind: str) -> list[str]:
    """Problems of a view's declaration (`spec` of an `endpoint` or a page) with its allow-list
    (`public`: the view is on it): outermost, and public exactly when allowed."""
    decorator, allow_list = ("page", "PUBLIC_PAGES") if kind == "page" else ("endpoint", "PUBLIC")
    problems = []
    if spec.view is not handler:
        problems.append(f"{where}: @{decorator} must be the outermost decorator")
    if spec.public != public:
        problems.append(
            f"{where} is public: declare it with public=True"
            if public
            else f"{where} lacks authentication (public=True but not in {allow_list})"
        )
    return problems


def _page_problems(where: str, handler, public: bool) -> list[str]:
    """What is wrong with a view under PAGE_PREFIX (`public`: on PUBLIC_PAGES)."""
    spec = page_spec_of(handler)
    if spec is None:
        return [f"{where} is under {PAGE_PREFIX} but not declared with web.pages.page"]
    return _declaration_problems(where, spec, handler, public, "page")


def endpoint_problems(app: Flask, paths: dict) -> list[str]:
    """What is wrong with the app's views: `paths` is the OpenAPI document's, which says which
    POSTs create (answer 201)."""
    problems = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - IGNORED_METHODS):
            where = f"{method} {rule.rule}"
            handler = _handler(app, rule, method)
            if rule.rule.startswith(PAGE_PREFIX):
                problems += _page_problems(where, handler, (method, rule.rule) in PUBLIC_PAGES)
                continue
            if page_spec_of(handler) is not None:
                problems.append(f"{where} is a page outside {PAGE_PREFIX}")
                continue
            spec = getattr(handler, "endpoint_spec", None)
            public = (method, rule.rule) in PUBLIC
            if spec is None:
                if not public:
                    problems.append(f"{where} is not declared with @endpoint")
                continue
            problems += _declaration_problems(where, spec, handler, public, "endpoint")
            optional = (method, rule.rule) in OPTIONAL_AUTH
            if spec.optional_auth != optional:
                problems.append(
                    f"{where} is a public read: declare it with optional_auth=True"
                    if optional
                    else f"{where} answers anonymously (optional_auth=True but not in "
                    "OPTIONAL_AUTH)"
                )
            operation = paths.get(_openapi_path(rule.rule), {}).get(method.lower(), {})
            creates = method == "POST" and "201" in {
                str(status) for status in operation.get("responses", {})
            }
            if creates and not spec.idempotent and (method, rule.rule) not in NOT_IDEMPOTENT:
                problems.append(f"{where} creates (201) but is not idempotent=True")
    return problems


def check_endpoints(app: Flask, paths: dict) -> None:
    """Refuse to start an app whose views are not all declared as `endpoint_problems` wants."""
    problems = endpoint_problems(app, paths)
    if problems:
        raise EndpointMisconfigured("; ".join(problems))
