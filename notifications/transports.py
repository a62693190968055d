"""Delivery transports: the push gateway (FCM HTTP v1 shaped) and signed webhooks.

Both are coroutines on a shared `aiohttp.ClientSession` (keep-alive pool), so a dispatcher
keeps hundreds of deliveries in flight on one thread instead of one blocking request per thread.
Webhooks use their own session (`webhook_session`): its connector resolves through the SSRF
guard, and it never decompresses; of any answer at most `read_limit` bytes are read.
"""

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook as StandardWebhook

from notifications.ssrf import CheckedResolver, LookupFailed, TargetRefused, target_refusal

TIMEOUT = aiohttp.ClientTimeout(total=5)
DEFAULT_READ_LIMIT = 4096


@dataclass(frozen=True)
class Outcome:
    """How one attempt went; `permanent` failures are not retried."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    unregistered: bool = False


def _failure(exc: Exception, timeout: aiohttp.ClientTimeout) -> Outcome:
    """The outcome of an attempt that got no answer, worded so it is no port-scan oracle.

    Refused, unreachable and silent hosts read the same (the OS error would tell a closed
    port from a filtered one); an address the SSRF guard refused is named by its kind only.
    """
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        if isinstance(exc.os_error, TargetRefused):
            return Outcome(
                False, f"refused by SSRF policy ({exc.os_error.kind} address)", permanent=True
            )
        if isinstance(exc.os_error, LookupFailed):
            return Outcome(False, str(exc.os_error))
        return Outcome(False, "DNS look-up failed")
    return Outcome(False, f"Cannot connect or no answer within {timeout.total:g} s")


def webhook_session(*, allow_loopback: bool, dns_timeout: float) -> aiohttp.ClientSession:
    """A session for webhooks: SSRF-checked look-ups (with a timeout), no decompression."""
    connector = aiohttp.TCPConnector(
        limit=0, resolver=CheckedResolver(allow_loopback=allow_loopback, timeout=dns_timeout)
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False)


async def read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to `limit` bytes of the body; a longer body is left unread and its connection closed."""
    chunks, size = [], 0
    while size < limit and (chunk := await response.content.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    if not response.content.at_eof():
        response.close()
    return b"".join(chunks)


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> StandardWebhook:
    return StandardWebhook(secret)


def push_message(token: str, title: str, body: str, data: dict) -> dict:
    """The gateway payload, shaped like FCM HTTP v1 (data values are strings)."""
    return {
        "message": {
            "token": token,
            "notification": {"title": title, "body": body},
            "data": {
                key: value if isinstance(value, str) else json.dumps(value)
                for key, value in data.items()
            },
        }
    }


async def send_push(
    http: aiohttp.ClientSession,
    gateway_url: str,
    token: str,
    title: str,
    body: str,
    data: dict,
    *,
    timeout: aiohttp.ClientTimeout = TIMEOUT,
    read_limit: int = DEFAULT_READ_LIMIT,
) -> Outcome:
    """POST one push message; a token the gateway calls unregistered is reported as such."""
    try:
        async with http.post(
            gateway_url,
            json=push_message(token, title, body, data),
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            status = response.status
            text = (await read_at_most(response, read_limit)).decode(errors="replace")
    except (TimeoutError, aiohttp.ClientError) as exc:
        return _failure(exc, timeout)
    if status < 400:
        return Outcome(True)
    if status in (404, 410) or "UNREGISTERED" in text:
        return Outcome(False, "device token unregistered", permanent=True, unregistered=True)
    return Outcome(False, f"push gateway answered HTTP {status}")


def webhook_body(kind: str, timestamp: datetime, data: dict) -> str:
    """The JSON body: `{"type", "timestamp", "data"}`."""
    return json.dumps(
        {"type": kind, "timestamp": timestamp.isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
    )


async def send_webhook(
    http: aiohttp.ClientSession,
    url: str,
    secret: str,
    message_id: str,
    kind: str,
    event_time: datetime,
    data: dict,
    now: datetime,
    allow_loopback: bool,
    *,
    timeout: aiohttp.ClientTimeout = TIMEOUT,
    read_limit: int = DEFAULT_READ_LIMIT,
) -> Outcome:
    """POST a Standard Webhooks request: SSRF-checked, signed, 5 s timeout, redirects refused.

    `http` must be a `webhook_session`: its resolver checks host names (the aiohttp DNS cache
    shares a look-up between deliveries); literal addresses are checked here.
    """
    refusal = target_refusal(url, allow_loopback=allow_loopback)
    if refusal:
        return Outcome(False, refusal, permanent=True)
    body = webhook_body(kind, event_time, data)
    now = now.astimezone(UTC)  # the library signs now.replace(tzinfo=UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": _signer(secret).sign(message_id, now, body),
        "accept-encoding": "identity",
    }
    try:
        # The DNS look-up happens inside, so it counts against the same timeout.
        async with http.post(
            url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            await read_at_most(response, read_limit)  # for keep-alive; the body is not used
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return _failure(exc, timeout)
    if 200 <= status < 300:
        return Outcome(True)
    if 300 <= status < 400:
        return Outcome(False, f"redirect refused (HTTP {status})")
    return Outcome(False, f"HTTP {status}")
