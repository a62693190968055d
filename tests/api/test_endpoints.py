"""The endpoint decorator: one transaction edge per request, and the start-up check that every
view is declared with it (authentication, idempotency of creating POSTs, outermost), and every
dashboard page with web.pages.page."""

import functools

import pytest
from flask import Blueprint as FlaskBlueprint
from flask.views import MethodView
from marshmallow import Schema, fields

import app as app_module
from core import operation_ids
from core.api import Blueprint
from core.endpoint import OPTIONAL_AUTH, PUBLIC, EndpointMisconfigured, endpoint
from core.pages import PUBLIC_PAGES
from core.ratelimit import RateLimit
from tests.factories import API, scalar
from venues.schemas import VenueReadSchema
from web.pages import page


class ThingSchema(Schema):
    name = fields.String()


def app_with_extra_view(monkeypatch, make_app, declare):
    """Build the app with one more blueprint, whose view class `declare(blp)` returns."""
    blp = Blueprint("extra", __name__, url_prefix="/api/v1/extra")
    blp.route("/things")(declare(blp))
    monkeypatch.setattr(app_module, "BLUEPRINTS", (*app_module.BLUEPRINTS, blp))
    monkeypatch.setattr(
        operation_ids,
        "OPERATION_IDS",
        {
            **operation_ids.OPERATION_IDS,
            ("GET", "/api/v1/extra/things"): "listThings",
            ("POST", "/api/v1/extra/things"): "createThing",
        },
    )
    return make_app()


def refusal(monkeypatch, make_app, declare) -> str:
    with pytest.raises(EndpointMisconfigured) as refused:
        app_with_extra_view(monkeypatch, make_app, declare)
    return str(refused.value)


def test_a_correctly_declared_extra_view_starts(monkeypatch, make_app):
    def declare(blp):
        class Things(MethodView):
            @endpoint(role="merchant", idempotent=True)
            @blp.arguments(ThingSchema)
            @blp.response(201, ThingSchema)
            def post(self, data):
                return data

        return Things

    assert "extra.Things" in app_with_extra_view(monkeypatch, make_app, declare).view_functions


def test_a_view_without_the_endpoint_decorator_stops_the_app_from_starting(monkeypatch, make_app):
    def declare(blp):
        class Things(MethodView):
            @blp.response(200, ThingSchema)
            def get(self):
                return {"name": "anyone may read this"}

        return Things

    assert "GET /api/v1/extra/things is not declared with @endpoint" in refusal(
        monkeypatch, make_app, declare
    )


def test_an_endpoint_decorator_below_another_decorator_stops_the_app_from_starting(
    monkeypatch, make_app
):
    # Misordered: serialising (and parsing, 422 before 401) would run outside auth and the
    # transaction; functools.wraps even copies the declaration up to the outer function.
    def declare(blp):
        class Things(MethodView):
            @blp.arguments(ThingSchema)
            @blp.response(201, ThingSchema)
            @endpoint(role="merchant", idempotent=True)
            def post(self, data):
                return data

        return Things

    assert "POST /api/v1/extra/things: @endpoint must be the outermost decorator" in refusal(
        monkeypatch, make_app, declare
    )


def test_a_creating_post_without_idempotency_stops_the_app_from_starting(monkeypatch, make_app):
    def declare(blp):
        class Things(MethodView):
            @endpoint(role="merchant")
            @blp.arguments(ThingSchema)
            @blp.response(201, ThingSchema)
            def post(self, data):
                return data

        return Things

    assert "POST /api/v1/extra/things creates (201) but is not idempotent=True" in refusal(
        monkeypatch, make_app, declare
    )


def test_a_public_view_outside_the_allow_list_stops_the_app_from_starting(monkeypatch, make_app):
    def declare(blp):
        class Things(MethodView):
            @endpoint(public=True, read_only=True)
            @blp.response(200, ThingSchema)
            def get(self):
                return {"name": "anyone may read this"}

        return Things

    assert "GET /api/v1/extra/things lacks authentication" in refusal(
        monkeypatch, make_app, declare
    )


def test_an_anonymous_read_outside_its_allow_list_stops_the_app_from_starting(
    monkeypatch, make_app
):
    def declare(blp):
        class Things(MethodView):
            @endpoint(optional_auth=True, read_only=True)
            @blp.response(200, ThingSchema)
            def get(self):
                return {"name": "anyone may read this"}

        return Things

    assert "GET /api/v1/extra/things answers anonymously" in refusal(monkeypatch, make_app, declare)


def test_a_public_read_declared_without_optional_auth_stops_the_app_from_starting(
    monkeypatch, make_app
):
    monkeypatch.setattr(
        "core.endpoint.OPTIONAL_AUTH", OPTIONAL_AUTH | {("GET", "/api/v1/extra/things")}
    )

    def declare(blp):
        class Things(MethodView):
            @endpoint(read_only=True)
            @blp.response(200, ThingSchema)
            def get(self):
                return {"name": "only accounts may read this"}

        return Things

    assert "GET /api/v1/extra/things is a public read: declare it with optional_auth" in refusal(
        monkeypatch, make_app, declare
    )


@pytest.mark.parametrize("allow_list", [PUBLIC, OPTIONAL_AUTH], ids=["public", "optional_auth"])
def test_every_view_on_an_allow_list_exists(app, allow_list):
    # A misspelt entry would not open anything, but would hide that the real view is checked.
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods}
    assert allow_list <= routes


@pytest.mark.parametrize(
    "declaration",
    [
        {"public": True, "role": "merchant"},
        {
            "public": True,
            "rate_limit": RateLimit("things", "COMMIT_RATE_LIMIT", "COMMIT_RATE_WINDOW_SECONDS"),
        },
        {"read_only": True, "idempotent": True},
        {"optional_auth": True, "role": "customer"},
        {"optional_auth": True, "public": True},
        {"optional_auth": True, "idempotent": True},
        {
            "optional_auth": True,
            "rate_limit": RateLimit("things", "COMMIT_RATE_LIMIT", "COMMIT_RATE_WINDOW_SECONDS"),
        },
        {"redact": ("secret",)},
    ],
)
def test_contradictory_declarations_are_refused_where_they_are_written(declaration):
    with pytest.raises(ValueError):
        endpoint(**declaration)


def test_a_request_that_fails_after_its_service_returned_leaves_no_effect(
    api, client, engine, merchant, monkeypatch
):
    # The service's work waits for the edge, which commits only once the response is built.
    def broken_dump(self, obj, *, many=None):
        raise RuntimeError("the serialiser broke")

    monkeypatch.setattr(VenueReadSchema, "dump", broken_dump)
    response = client.post(
        f"{API}/venues",
        headers=merchant["headers"],
        json={"name": "Never there", "location": {"lat": 52.5, "lon": 13.4}},
    )
    assert response.status_code == 500
    assert scalar(engine, "SELECT count(*) FROM venues") == 0


# --- pages of the dashboard (core.pages): checked by the same walk, for their own declaration ---


def app_with_extra_page(monkeypatch, make_app, rule: str, declare):
    """Build the app with one more page blueprint whose view `declare()` returns, at `rule`."""
    pages = FlaskBlueprint("extra_pages", __name__)
    pages.route(rule, methods=["GET", "POST"])(declare())
    monkeypatch.setattr(app_module, "PAGE_BLUEPRINTS", (*app_module.PAGE_BLUEPRINTS, pages))
    return make_app()


def page_refusal(monkeypatch, make_app, rule: str, declare) -> str:
    with pytest.raises(EndpointMisconfigured) as refused:
        app_with_extra_page(monkeypatch, make_app, rule, declare)
    return str(refused.value)


def test_a_correctly_declared_extra_page_starts(monkeypatch, make_app):
    def declare():
        @page()
        def extra():
            return "a page"

        return extra

    started = app_with_extra_page(monkeypatch, make_app, "/merchant/extra", declare)
    assert "extra_pages.extra" in started.view_functions


def test_a_view_under_the_dashboard_without_the_page_decorator_stops_the_app_from_starting(
    monkeypatch, make_app
):
    def declare():
        def extra():
            return "no sign-in, no CSRF, no transaction"

        return extra

    assert "GET /merchant/extra is under /merchant/ but not declared with web.pages.page" in (
        page_refusal(monkeypatch, make_app, "/merchant/extra", declare)
    )


def test_an_api_view_under_the_dashboard_stops_the_app_from_starting(monkeypatch, make_app):
    def declare():
        @endpoint(read_only=True)
        def extra():
            return {}

        return extra

    assert "not declared with web.pages.page" in page_refusal(
        monkeypatch, make_app, "/merchant/extra", declare
    )


def test_a_page_outside_the_dashboard_stops_the_app_from_starting(monkeypatch, make_app):
    def declare():
        @page()
        def extra():
            return "a page where the API lives"

        return extra

    assert "GET /api/v1/extra is a page outside /merchant/" in page_refusal(
        monkeypatch, make_app, "/api/v1/extra", declare
    )


def test_a_public_page_outside_its_allow_list_stops_the_app_from_starting(monkeypatch, make_app):
    def declare():
        @page(public=True)
        def extra():
            return "anyone"

        return extra

    assert "GET /merchant/extra lacks authentication (public=True but not in PUBLIC_PAGES)" in (
        page_refusal(monkeypatch, make_app, "/merchant/extra", declare)
    )


def test_a_page_decorator_below_another_decorator_stops_the_app_from_starting(
    monkeypatch, make_app
):
    def declare():
        def cached(view):
            @functools.wraps(view)
            def wrapper():
                return view()

            return wrapper

        @cached
        @page()
        def extra():
            return "the wrapper runs before sign-in and CSRF"

        return extra

    assert "GET /merchant/extra: @page must be the outermost decorator" in page_refusal(
        monkeypatch, make_app, "/merchant/extra", declare
    )


def test_every_page_on_the_public_allow_list_exists(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods}
    assert PUBLIC_PAGES <= routes
