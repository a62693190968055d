"""The dashboard's pages, one module per part; each attaches its routes to web.blueprint.bp."""

from web.views import (  # noqa: F401
    account,
    assets,
    deals,
    reviews,
    statement,
    venues,
    vouchers,
    webhooks,
)
