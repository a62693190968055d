"""The flask-smorest Api: OpenAPI document, offline Swagger UI, problem+json error docs."""

import http

import flask_smorest
import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_smorest import Api
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from core.errors import PROBLEM_JSON, handle_error
from core.operation_ids import OperationIdPlugin
from core.schemas import ProblemSchema

SWAGGER_ASSETS_URL = "/api/docs/assets/"


class SchwarmApi(Api):
    """Api whose error responses are documented as problem+json (see `document_problems`)."""

    ERROR_SCHEMA = ProblemSchema


def document_problems(api: Api) -> None:
    """Describe every status's response component (and the default error) as problem+json.

    flask-smorest registers these components lazily as application/json; registering a lazy
    component again under the same name replaces it before anything references it.
    """
    for status in http.HTTPStatus:
        response = {"description": status.phrase}
        if not (100 <= status < 200) and status not in (204, 304):
            response["content"] = {PROBLEM_JSON: {"schema": api.ERROR_SCHEMA}}
        api.spec.components.response(status.name, response, lazy=True)
    api.spec.components.response(
        api.DEFAULT_ERROR_RESPONSE_NAME,
        {
            "description": "Default error response",
            "content": {PROBLEM_JSON: {"schema": api.ERROR_SCHEMA}},
        },
        lazy=True,
    )


def document_responses(func, statuses: list[int], security: list | None = None):
    """Add problem responses (by status) and optionally a security requirement to a view's docs."""
    doc = {"responses": {status: http.HTTPStatus(status).name for status in statuses}}
    if security is not None:
        doc["security"] = security
    return flask_smorest.Blueprint.doc(**doc)(func)


def api_config() -> dict:
    """flask-smorest settings: spec at /api/v1/openapi.json, Swagger UI at /api/docs."""
    return {
        "API_TITLE": "Schwarm",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_ASSETS_URL,
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Location-based group deals, check-ins and rewards. "
                "Errors are RFC 9457 problem+json documents with a `code` member."
            },
            "servers": [{"url": "/"}],
        },
    }


NO_NUL_PATTERN = "^[^\\u0000]*$"


def no_nul_pattern(self, field, **kwargs) -> dict:
    """Document that free-text strings may not hold NUL (PostgreSQL text cannot; we answer 422)."""
    free_text = isinstance(field, fields.String) and not isinstance(
        field, (fields.UUID, fields.Email, fields.Url)
    )
    has_pattern = any(isinstance(v, validate.Regexp) for v in field.validators)
    return {"pattern": NO_NUL_PATTERN} if free_text and not has_pattern else {}


def nullable_nested(self, field, ret, **kwargs) -> dict:
    """A nullable field in OpenAPI 3.0, which has no null type: `nullable: true`, and a nested
    schema kept as `allOf: [its $ref]`. (apispec's own answer, `anyOf` with a branch `{type:
    object, nullable: true}`, also admits any object at all, so clients and the fuzz read a
    nullable nested body field as taking anything.)"""
    if not field.allow_none:
        return {}
    if "$ref" in ret:
        return {"allOf": [{"$ref": ret.pop("$ref")}], "nullable": True}
    return {"nullable": True}


def init_app(app: Flask) -> SchwarmApi:
    """Create the Api, the bearer security scheme and the offline Swagger UI asset route."""
    for key, value in api_config().items():
        app.config.setdefault(key, value)
    api = SchwarmApi(app, spec_kwargs={"extra_plugins": [OperationIdPlugin()]})
    app.register_error_handler(HTTPException, handle_error)  # replaces flask-smorest's JSON one
    app.register_error_handler(Exception, handle_error)
    document_problems(api)
    converter = api.ma_plugin.converter
    converter.add_attribute_function(no_nul_pattern)
    converter.attribute_functions.remove(converter.field2nullable)
    converter.add_attribute_function(nullable_nested)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Token from POST /tokens"}
    )

    @app.get(SWAGGER_ASSETS_URL + "<path:filename>")
    def swagger_assets(filename):
        """Swagger UI's JS/CSS, bundled with the swagger-ui-bundle package (no CDN)."""
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    return api


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint whose query arguments refuse unknown names (422), like bodies."""

    ARGUMENTS_PARSER = FlaskParser(unknown=None)
