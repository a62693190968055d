"""Helpers for the review tests: verified visits (a redeemed voucher, a counted check-in),
reviews through the API, and time travel in SQL."""

from datetime import timedelta

from sqlalchemy import text

from tests.factories import API, BERLIN, commit


def redeemed_voucher(api, merchant: dict, venue: dict, customer: dict) -> str:
    """A deal at `venue` that tips at once; `customer` commits and `merchant` redeems the voucher.
    Returns its code."""
    deal = api.create_deal(merchant, venue, min_commitments=1)
    assert commit(api, customer, deal).status_code == 201
    code = unredeemed_voucher_of(api, customer, deal["id"])
    redeemed = api.client.post(f"{API}/vouchers/{code}/redeem", headers=merchant["headers"])
    assert redeemed.status_code == 200, redeemed.json
    return code


def unredeemed_voucher_of(api, customer: dict, deal_id: str) -> str:
    vouchers = api.client.get(f"{API}/me/vouchers", headers=customer["headers"]).json["items"]
    return next(v["code"] for v in vouchers if v["deal_id"] == deal_id and v["status"] == "issued")


def check_in(api, customer: dict, venue: dict, **body) -> dict:
    """A check-in at `venue` (at its location, accurate: it counts unless `body` says otherwise)."""
    response = api.client.post(
        f"{API}/venues/{venue['id']}/checkins",
        headers=customer["headers"],
        json={"location": venue.get("location", BERLIN), "accuracy_m": 10, **body},
    )
    assert response.status_code == 201, response.json
    return response.json["checkin"]


def review(api, caller: dict, venue: dict, **body):
    """`POST /venues/{id}/reviews` (default body: 4 stars, a short text); the response."""
    return api.client.post(
        f"{API}/venues/{venue['id']}/reviews",
        headers=caller["headers"],
        json={"rating": 4, "text": "Lovely coffee.", **body},
    )


def reviews_of(api, venue: dict, **query) -> dict:
    response = api.client.get(f"{API}/venues/{venue['id']}/reviews", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def rating_of(api, venue: dict) -> dict:
    return api.client.get(f"{API}/venues/{venue['id']}").json["rating"]


def age_visits(engine, account_id: str, by: timedelta) -> None:
    """Move every voucher redemption and check-in of the account `by` into the past."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE vouchers SET redeemed_at = redeemed_at - :by WHERE account_id = :id"),
            {"by": by, "id": account_id},
        )
        connection.execute(
            text(
                "UPDATE checkins SET created_at = created_at - :by,"
                " local_day = local_day - CAST(:days AS integer) WHERE account_id = :id"
            ),
            {"by": by, "days": by.days, "id": account_id},
        )


def age_review(engine, review_id: str, by: timedelta) -> None:
    """Move a review's writing `by` into the past."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE reviews SET created_at = created_at - :by WHERE id = :id"),
            {"by": by, "id": review_id},
        )


def visible_rating(engine, venue_id: str) -> dict:
    """`{average, count}` computed from the visible reviews themselves."""
    with engine.connect() as connection:
        count, total = connection.execute(
            text(
                "SELECT count(*), coalesce(sum(rating), 0) FROM reviews"
                " WHERE venue_id = :id AND hidden_at IS NULL"
            ),
            {"id": venue_id},
        ).one()
    return {"average": total / count if count else None, "count": count}
