"""German and English: every string of the dashboard and every problem title of the API has its
German, the committed .mo files are what their .po files compile to, and a German browser gets
German pages with the API's refusals in German."""

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import web
from core.errors import DomainError
from tests.dashboard_support import Dashboard, csrf_token_of, signed_in, text_of
from tests.factories import API
from web.i18n import DOMAINS, TRANSLATIONS

WEB = Path(web.__file__).resolve().parent
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def catalogue(domain: str):
    with open(TRANSLATIONS / "de" / "LC_MESSAGES" / f"{domain}.po", "rb") as file:
        return read_po(file)


def extracted_messages() -> set[str]:
    with open(WEB / "babel.cfg") as file:
        method_map, options_map = parse_mapping_cfg(file)
    found = extract_from_dir(
        WEB, method_map, options_map, keywords={"_": None, "_l": None, "gettext": None}
    )
    return {message for _file, _line, message, _comments, _context in found}


def subclasses(cls) -> list[type]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in subclasses(direct))]


def test_every_string_of_the_dashboard_has_a_german_translation_and_nothing_stale_is_kept():
    german = {message.id: message.string for message in catalogue("messages") if message.id}
    extracted = extracted_messages()
    assert extracted, "nothing extracted: is web/babel.cfg right?"
    missing = sorted(message for message in extracted if not german.get(message))
    assert not missing, f"run `make translations` and translate: {missing}"
    assert set(german) == extracted, sorted(set(german) - extracted)


def test_every_problem_title_of_the_api_has_a_german_translation(app):
    german = {message.id: message.string for message in catalogue("api") if message.id}
    titles = {error.title for error in subclasses(DomainError)}
    missing = sorted(title for title in titles if not german.get(title))
    assert not missing, f"add these to web/translations/de/LC_MESSAGES/api.po: {missing}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_committed_mo_file_is_what_its_po_file_compiles_to(domain):
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(domain))
    committed = (TRANSLATIONS / "de" / "LC_MESSAGES" / f"{domain}.mo").read_bytes()
    assert committed == compiled.getvalue(), "run `make translations`"


def test_a_german_browser_gets_the_dashboard_in_german_with_the_api_refusals_in_german(
    client, merchant
):
    dashboard = Dashboard(client)
    page = client.get("/merchant/sign-in", headers=GERMAN).get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Im Händlerbereich anmelden" in text_of(page)
    refused = dashboard.client.post(
        "/merchant/sign-in",
        data={
            "csrf_token": csrf_token_of(page),
            "email": merchant["account"]["email"],
            "password": "not the password",
        },
        headers=GERMAN,
    )
    assert refused.status_code == 401
    shown = text_of(refused.get_data(as_text=True))
    assert "E-Mail-Adresse oder Passwort falsch." in shown


def test_times_are_written_in_the_venue_time_zone_as_the_language_writes_them(
    api, client, merchant
):
    venue = api.create_venue(merchant, timezone="Asia/Tokyo")
    deal = api.create_deal(merchant, venue)
    dashboard = signed_in(client, merchant)
    english = text_of(dashboard.get(f"/merchant/deals/{deal['id']}").get_data(as_text=True))
    german = text_of(
        dashboard.get(f"/merchant/deals/{deal['id']}", headers=GERMAN).get_data(as_text=True)
    )
    assert "JST" in english and "JST" in german
    assert "Ende" in german and "Ends" in english
    assert "€18.00" in english and "18,00 €" in german
    # The same templates, once compiled, still speak each language (nothing is baked in).
    listed = [
        text_of(dashboard.get("/merchant/", headers=language).get_data(as_text=True))
        for language in ({"Accept-Language": "en"}, GERMAN)
    ]
    assert "0 issued, 0 redeemed" in listed[0] and "0 ausgegeben, 0 eingelöst" in listed[1]


def test_the_language_chosen_on_the_dashboard_wins_over_the_browsers(client, merchant):
    dashboard = signed_in(client, merchant)
    chosen = dashboard.post(
        "/merchant/language", {"language": "de", "next": "/merchant/venues"}, form_page="/merchant/"
    )
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/merchant/venues"
    page = dashboard.get("/merchant/venues", headers={"Accept-Language": "en"})
    assert "Noch keine Orte." in text_of(page.get_data(as_text=True))


def test_the_api_answers_in_english_whatever_the_browser_asks_for(client):
    response = client.get(f"{API}/deals/00000000-0000-0000-0000-000000000000", headers=GERMAN)
    assert response.status_code == 404
    assert response.json["title"] == "Not found"
