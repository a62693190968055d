"""The merchant dashboard: server-rendered pages at /merchant/ for the merchants' browsers.

It owns no rule of its own: every action calls the same services as the API, inside the same
unit of work (core.db), and shows the API's messages. What it adds is the browser's side: a
signed-in session (Flask-Login, over a token row like the API's), CSRF on every form
(Flask-WTF), German and English (Flask-Babel), a Content-Security-Policy, and local assets.
"""

from flask import Flask

import web.views  # noqa: F401  (the pages attach themselves to the blueprint)
from web import auth, i18n
from web.blueprint import bp


def init_app(app: Flask) -> None:
    """Set up the dashboard's session, sign-in, CSRF and translations, and its pages."""
    auth.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(bp)
