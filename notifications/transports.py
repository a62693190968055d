"""Delivery transports: the push gateway (FCM HTTP v1 shaped) and signed webhooks."""
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from standardwebhooks import Webhook as StandardWebhook

from notifications.ssrf import url_refusal

TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Outcome:
    """How one attempt went; `permanent` failures are not retried."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    unregistered: bool = False


def _failure(exc: requests.RequestException) -> Outcome:
    return Outcome(False, f"{exc.__class__.__name__}: {exc}"[:500])


def push_message(token: str, title: str, body: str, data: dict) -> dict:
    """The gateway payload, shaped like FCM HTTP v1 (data values are strings)."""
    return {"message": {
        "token": token,
        "notification": {"title": title, "body": body},
        "data": {key: value if isinstance(value, str) else json.dumps(value) for key, value in data.items()},
    }}


def send_push(http: requests.Session, gateway_url: str, token: str, title: str, body: str,
              data: dict) -> Outcome:
    """POST one push message; a token the gateway calls unregistered is reported as such."""
    try:
        response = http.post(gateway_url, json=push_message(token, title, body, data),
                             timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        return _failure(exc)
    if response.ok:
        return Outcome(True)
    if response.status_code in (404, 410) or "UNREGISTERED" in response.text[:2000]:
        return Outcome(False, "device token unregistered", permanent=True, unregistered=True)
    return Outcome(False, f"push gateway answered HTTP {response.status_code}")


def webhook_body(kind: str, timestamp: datetime, data: dict) -> str:
    """The JSON body: `{"type", "timestamp", "data"}`."""
    return json.dumps({"type": kind, "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
                       "data": data}, separators=(",", ":"))


def send_webhook(http: requests.Session, url: str, secret: str, message_id: str, kind: str,
                 event_time: datetime, data: dict, now: datetime, allow_loopback: bool) -> Outcome:
    """POST a Standard Webhooks request: SSRF-checked, signed, 5 s timeout, redirects refused."""
    refusal = url_refusal(url, allow_loopback=allow_loopback)
    if refusal:
        return Outcome(False, refusal, permanent=True)
    body = webhook_body(kind, event_time, data)
    now = now.astimezone(UTC)  # the library signs now.replace(tzinfo=UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": StandardWebhook(secret).sign(message_id, now, body),
    }
    try:
        response = http.post(url, data=body.encode(), headers=headers, timeout=TIMEOUT_SECONDS,
                             allow_redirects=False)
    except requests.RequestException as exc:
        return _failure(exc)
    if 200 <= response.status_code < 300:
        return Outcome(True)
    if 300 <= response.status_code < 400:
        return Outcome(False, f"redirect refused (HTTP {response.status_code})")
    return Outcome(False, f"HTTP {response.status_code}")
