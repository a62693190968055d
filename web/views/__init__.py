"""The dashboard's pages, one module per part; each attaches its routes to web.blueprint.bp."""

from web.views import account, assets, deals, reviews, venues, vouchers, webhooks  # noqa: F401
