"""The dashboard's own CSS and JavaScript, and Leaflet from the xstatic-leaflet package: every
asset is served by the app (no CDN)."""

from pathlib import Path

from flask import send_from_directory
from xstatic.pkg import leaflet

from web.blueprint import bp
from web.pages import page

STATIC = Path(__file__).resolve().parent.parent / "static"
ASSET_MAX_AGE = 3600


@bp.route("/static/<path:filename>")
@page(public=True, read_only=True)
def static_file(filename: str):
    """A file of web/static."""
    return send_from_directory(STATIC, filename, max_age=ASSET_MAX_AGE)


@bp.route("/vendor/leaflet/<path:filename>")
@page(public=True, read_only=True)
def leaflet_file(filename: str):
    """Leaflet's JavaScript, CSS and marker images, as the installed package ships them."""
    return send_from_directory(leaflet.BASE_DIR, filename, max_age=ASSET_MAX_AGE)
