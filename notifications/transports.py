"""Delivery transports: the push gateway (FCM HTTP v1 shaped) and signed webhooks.

Both are coroutines on one shared `aiohttp.ClientSession` (keep-alive pool), so a dispatcher
keeps hundreds of deliveries in flight on one thread instead of one blocking request per thread.
"""
import asyncio
import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook as StandardWebhook

from notifications.ssrf import url_refusal

TIMEOUT = aiohttp.ClientTimeout(total=5)


@dataclass(frozen=True)
class Outcome:
    """How one attempt went; `permanent` failures are not retried."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    unregistered: bool = False


def _failure(exc: Exception) -> Outcome:
    return Outcome(False, f"{exc.__class__.__name__}: {exc}"[:500])


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> StandardWebhook:
    return StandardWebhook(secret)


def push_message(token: str, title: str, body: str, data: dict) -> dict:
    """The gateway payload, shaped like FCM HTTP v1 (data values are strings)."""
    return {"message": {
        "token": token,
        "notification": {"title": title, "body": body},
        "data": {key: value if isinstance(value, str) else json.dumps(value) for key, value in data.items()},
    }}


async def send_push(http: aiohttp.ClientSession, gateway_url: str, token: str, title: str,
                    body: str, data: dict) -> Outcome:
    """POST one push message; a token the gateway calls unregistered is reported as such."""
    try:
        async with http.post(gateway_url, json=push_message(token, title, body, data),
                             timeout=TIMEOUT, allow_redirects=False) as response:
            status, text = response.status, (await response.read())[:2000].decode(errors="replace")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return _failure(exc)
    if status < 400:
        return Outcome(True)
    if status in (404, 410) or "UNREGISTERED" in text:
        return Outcome(False, "device token unregistered", permanent=True, unregistered=True)
    return Outcome(False, f"push gateway answered HTTP {status}")


def webhook_body(kind: str, timestamp: datetime, data: dict) -> str:
    """The JSON body: `{"type", "timestamp", "data"}`."""
    return json.dumps({"type": kind, "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
                       "data": data}, separators=(",", ":"))


async def send_webhook(http: aiohttp.ClientSession, url: str, secret: str, message_id: str,
                       kind: str, event_time: datetime, data: dict, now: datetime,
                       allow_loopback: bool, checks: dict | None = None) -> Outcome:
    """POST a Standard Webhooks request: SSRF-checked, signed, 5 s timeout, redirects refused.

    `checks` (URL -> task) lets the deliveries of one batch share one check per URL.
    """
    checks = {} if checks is None else checks
    if url not in checks:
        # The check resolves the host (blocking), so it runs off the event loop; once per URL
        # and batch: a thread hand-off per delivery was ~10 % of the dispatcher's CPU (py-spy).
        checks[url] = asyncio.ensure_future(
            asyncio.to_thread(url_refusal, url, allow_loopback=allow_loopback))
    refusal = await checks[url]
    if refusal:
        return Outcome(False, refusal, permanent=True)
    body = webhook_body(kind, event_time, data)
    now = now.astimezone(UTC)  # the library signs now.replace(tzinfo=UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": _signer(secret).sign(message_id, now, body),
    }
    try:
        async with http.post(url, data=body.encode(), headers=headers, timeout=TIMEOUT,
                             allow_redirects=False) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return _failure(exc)
    if 200 <= status < 300:
        return Outcome(True)
    if 300 <= status < 400:
        return Outcome(False, f"redirect refused (HTTP {status})")
    return Outcome(False, f"HTTP {status}")
