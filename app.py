"""Schwarm: the Flask application factory."""

import logging

from flask import Flask

import core.api
import core.db
import core.http
import core.ops
import web
from accounts.routes import blp as accounts_blp
from checkins.routes import blp as checkins_blp
from core import idempotency, ratelimit
from core.config import load_config
from core.endpoint import check_endpoints
from core.scheduler import jobs_cli
from deals import jobs as deal_jobs
from deals.routes import blp as deals_blp
from notifications import jobs as notification_jobs
from notifications.routes import blp as notifications_blp
from payments import jobs as payment_jobs
from payments import providers as payment_providers
from payments.routes import blp as payments_blp
from referrals import jobs as referral_jobs
from referrals.routes import blp as referrals_blp
from reviews.cli import reviews_cli
from reviews.routes import blp as reviews_blp
from social import jobs as social_jobs
from social.routes import blp as social_blp
from social.routes import data_blp as account_data_blp
from social.routes import friends_blp
from social.routes import pages as share_pages
from venues.routes import blp as venues_blp

BLUEPRINTS = (
    accounts_blp,
    venues_blp,
    deals_blp,
    checkins_blp,
    notifications_blp,
    social_blp,
    reviews_blp,
    referrals_blp,
    payments_blp,
    friends_blp,
    account_data_blp,
)
# Plain Flask blueprints: pages outside the API document.
PAGE_BLUEPRINTS = (share_pages,)
JOB_REGISTRIES = (
    idempotency.JOBS,
    ratelimit.JOBS,
    deal_jobs.JOBS,
    notification_jobs.JOBS,
    social_jobs.JOBS,
    referral_jobs.JOBS,
    payment_jobs.JOBS,
)


def create_app(config: dict | None = None) -> Flask:
    """Build the app: configuration, database, HTTP conventions, API blueprints, the merchant
    dashboard, jobs, CLI.

    Refuses (EndpointMisconfigured) an app with a view not declared by `core.endpoint.endpoint`
    as it should be: every request must go through one transaction edge and its guards.
    """
    app = Flask(__name__, static_folder=None)
    app.config.update(load_config(config))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)  # /readyz probes
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our job log line has the counts
    core.db.init_app(app)
    core.http.init_app(app)
    core.ops.init_app(app)
    payment_providers.init_app(app)
    api = core.api.init_app(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    for blueprint in PAGE_BLUEPRINTS:
        app.register_blueprint(blueprint)
    web.init_app(app)  # the merchant dashboard at /merchant/ (its pages: core.pages)
    check_endpoints(app, api.spec.to_dict()["paths"])
    app.extensions["jobs"] = {
        name: job for registry in JOB_REGISTRIES for name, job in registry.items()
    }
    app.cli.add_command(jobs_cli)
    app.cli.add_command(reviews_cli)
    return app
