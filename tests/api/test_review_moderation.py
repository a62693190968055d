"""Moderation: `flask --app app reviews reported|hide|keep`. A hidden review leaves the list
and the rating, its author is told why, and every decision is in the audit log; merchants
have no way to hide or delete a review."""

import uuid

import pytest

from tests.factories import API, BERLIN, outbox, rows, scalar
from tests.reviews_support import check_in, rating_of, review, reviews_of, visible_rating


@pytest.fixture
def venue(api, merchant) -> dict:
    return api.create_venue(merchant, name="Café Moderation", location=BERLIN)


def written_by_a_visitor(api, venue, rating: int, text: str = "Fine.") -> tuple[dict, dict]:
    author = api.register("customer")
    check_in(api, author, venue)
    response = review(api, author, venue, rating=rating, text=text)
    assert response.status_code == 201, response.json
    return author, response.json


def report(api, review_id: str, reason: str = "spam", caller: dict | None = None):
    caller = caller or api.register("customer")
    response = api.client.post(
        f"{API}/reviews/{review_id}/reports", headers=caller["headers"], json={"reason": reason}
    )
    assert response.status_code == 202, response.json
    return response


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["reviews", *args])


def test_reported_lists_reported_reviews_most_reported_first_with_their_reasons(api, app, venue):
    _, once = written_by_a_visitor(api, venue, 5, "Ok")
    _, thrice = written_by_a_visitor(api, venue, 1, "Total scam, avoid!")
    written_by_a_visitor(api, venue, 3, "never reported")
    report(api, once["id"])
    for reason in ("spam", "offensive", "offensive"):
        report(api, thrice["id"], reason)
    result = cli(app, "reported")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{thrice['id']}  3 report(s) (offensive 2, spam 1)")
    assert "1/5 for Café Moderation" in lines[1] and "verified by checkin" in lines[1]
    assert "Total scam, avoid!" in lines[2]
    assert any(line.startswith(f"{once['id']}  1 report(s) (spam 1)") for line in lines)
    assert "never reported" not in result.output


def test_hiding_takes_the_review_out_of_the_list_and_the_rating_logs_it_and_tells_the_author(
    api, app, engine, venue
):
    author, hidden = written_by_a_visitor(api, venue, 1, "Rude words")
    written_by_a_visitor(api, venue, 5)
    report(api, hidden["id"], "offensive")
    assert rating_of(api, venue) == {"average": 3.0, "count": 2}
    result = cli(app, "hide", hidden["id"], "--reason", "Insults staff", "--moderator", "mod-ann")
    assert result.exit_code == 0, result.output
    assert rating_of(api, venue) == {"average": 5.0, "count": 1}
    assert rating_of(api, venue) == visible_rating(engine, venue["id"])
    assert hidden["id"] not in [r["id"] for r in reviews_of(api, venue)["items"]]
    for sort in ("highest", "lowest"):
        assert hidden["id"] not in [r["id"] for r in reviews_of(api, venue, sort=sort)["items"]]
    assert "No reported reviews." in cli(app, "reported").output
    [entry] = rows(engine, "SELECT * FROM review_moderations")
    assert (entry.review_id, entry.action, entry.reason, entry.moderator) == (
        uuid.UUID(hidden["id"]),
        "hidden",
        "Insults staff",
        "mod-ann",
    )
    assert (entry.rating, entry.text, entry.reports_count) == (1, "Rude words", 1)
    [told] = outbox(engine, "review.hidden")
    assert str(told.recipient_id) == author["account"]["id"]
    assert told.payload["reason"] == "Insults staff"
    assert told.payload["review_id"] == hidden["id"]


def test_hiding_twice_changes_the_rating_once(api, app, engine, venue):
    _, hidden = written_by_a_visitor(api, venue, 2)
    for _ in range(2):
        assert cli(app, "hide", hidden["id"], "--reason", "Spam").exit_code == 0
    assert rating_of(api, venue) == {"average": None, "count": 0}
    assert scalar(engine, "SELECT count(*) FROM review_moderations") == 1
    assert len(outbox(engine, "review.hidden")) == 1


def test_hide_needs_a_reason_and_a_known_review(app):
    missing_reason = cli(app, "hide", str(uuid.uuid4()))
    assert missing_reason.exit_code == 2 and "--reason" in missing_reason.output
    blank = cli(app, "hide", str(uuid.uuid4()), "--reason", "   ")
    assert blank.exit_code == 2
    unknown = cli(app, "hide", str(uuid.uuid4()), "--reason", "Spam")
    assert unknown.exit_code == 1 and "No such review" in unknown.output


def test_a_hidden_review_can_be_deleted_by_its_author_but_not_edited_replied_to_or_reported(
    api, app, merchant, venue
):
    author, hidden = written_by_a_visitor(api, venue, 4)
    assert cli(app, "hide", hidden["id"], "--reason", "Not a visit").exit_code == 0
    path = f"{API}/reviews/{hidden['id']}"
    edited = api.client.patch(path, headers=author["headers"], json={"rating": 5})
    assert (edited.status_code, edited.json["code"]) == (409, "review-hidden")
    replied = api.client.put(f"{path}/reply", headers=merchant["headers"], json={"text": "Hm"})
    assert (replied.status_code, replied.json["code"]) == (404, "not-found")
    reported = api.client.post(
        f"{path}/reports", headers=merchant["headers"], json={"reason": "spam"}
    )
    assert reported.status_code == 404
    assert api.client.delete(path, headers=author["headers"]).status_code == 204
    assert rating_of(api, venue) == {"average": None, "count": 0}  # not taken out twice


def test_keeping_a_review_settles_its_reports_until_someone_else_reports_it(
    api, app, engine, venue
):
    _, kept = written_by_a_visitor(api, venue, 2, "Honest but harsh")
    report(api, kept["id"], "offensive")
    result = cli(app, "keep", kept["id"], "--reason", "Honest criticism")
    assert result.exit_code == 0, result.output
    assert "No reported reviews." in cli(app, "reported").output
    assert [r["id"] for r in reviews_of(api, venue)["items"]] == [kept["id"]]
    assert rating_of(api, venue) == {"average": 2.0, "count": 1}
    report(api, kept["id"], "spam")
    again = cli(app, "reported").output
    assert again.startswith(f"{kept['id']}  1 report(s) (spam 1)")
    assert [r.action for r in rows(engine, "SELECT action FROM review_moderations")] == ["kept"]


def test_the_api_gives_merchants_no_way_to_hide_or_delete_a_review(api, app, merchant, venue):
    _, written = written_by_a_visitor(api, venue, 1, "Terrible")
    path = f"{API}/reviews/{written['id']}"
    assert api.client.delete(path, headers=merchant["headers"]).status_code == 404
    patched = api.client.patch(path, headers=merchant["headers"], json={"rating": 5})
    assert patched.status_code == 404
    spec = api.client.get(f"{API}/openapi.json").json
    review_operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if "review" in path
        for method in item
        if method != "parameters"
    }
    assert review_operations == {
        ("POST", "/api/v1/venues/{venue_id}/reviews"),
        ("GET", "/api/v1/venues/{venue_id}/reviews"),
        ("PATCH", "/api/v1/reviews/{review_id}"),
        ("DELETE", "/api/v1/reviews/{review_id}"),
        ("PUT", "/api/v1/reviews/{review_id}/reply"),
        ("POST", "/api/v1/reviews/{review_id}/reports"),
    }
    assert reviews_of(api, venue)["items"][0]["rating"] == 1
