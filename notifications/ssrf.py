"""SSRF guard for webhook targets: public http(s) addresses only (loopback only if allowed).

Registration checks a URL with `url_refusal`. Delivery connects through `CheckedResolver`, the
resolver of the dispatcher's webhook connector: the look-up that is checked is the one the
connection uses, so a host that answers a public address first and an internal one next (DNS
rebinding) is only ever connected to at addresses that passed. Every look-up has a timeout.
"""

import asyncio
import functools
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from flask import current_app, has_app_context

DEFAULT_DNS_TIMEOUT_SECONDS = 2.0
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
# Look-ups run here, not in the caller's thread, so a DNS server that never answers costs a
# waiting thread of this pool, not a request thread; a full pool makes look-ups time out.
_LOOKUPS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ssrf-dns")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class LookupFailed(OSError):
    """A host name did not resolve, or not in time (an OSError, so aiohttp reports it as DNS)."""


class TargetRefused(OSError):
    """A host resolved to an address webhooks may not call."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.kind = kind


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 or Teredo address leads to, if it is one.

    (NAT64's 64:ff9b::/96 lies in the reserved ::/8 and is refused as a whole.)
    """
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    return None


def _refused_kind(address: Address, allow_loopback: bool) -> str | None:
    """What kind of forbidden address this is ("loopback", "link-local", ...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return _refused_kind(address.ipv4_mapped, allow_loopback)
        embedded = _embedded_ipv4(address)
        if embedded is not None and _refused_kind(embedded, allow_loopback=False):
            return "tunnelled"
        if address.is_site_local:
            return "private"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private or address in CARRIER_GRADE_NAT:
        return "private"
    if (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return "non-public"
    return None


_DESCRIPTIONS = {
    "loopback": "a loopback address",
    "link-local": "link-local (cloud metadata lives there)",
    "private": "a private address",
    "tunnelled": "a 6to4 or Teredo address around a non-public IPv4 address",
    "non-public": "not a unicast public address",
}


def address_refusal(address: Address, allow_loopback: bool) -> str | None:
    """Why a resolved address may not be called, or None."""
    kind = _refused_kind(address, allow_loopback)
    return None if kind is None else f"{address} is {_DESCRIPTIONS[kind]}"


def _checked(addresses: set[Address], allow_loopback: bool) -> None:
    """Raise `TargetRefused` if any of the addresses is forbidden."""
    for address in sorted(addresses, key=str):
        kind = _refused_kind(address, allow_loopback)
        if kind:
            raise TargetRefused(f"Refused: {address} is {_DESCRIPTIONS[kind]}.", kind)


def _addresses(infos: list) -> set[Address]:
    return {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}


def target_refusal(url: str, *, allow_loopback: bool) -> str | None:
    """Why a URL may not be called, judged without DNS (scheme, host, port, a literal address)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "Only http and https URLs are allowed."
    if not parts.hostname:
        return "The URL has no host."
    try:
        parts.port  # noqa: B018 (reading it is the check: an invalid port raises)
    except ValueError:
        return "The URL has an invalid port."
    literal = _literal_address(parts.hostname)
    if literal is not None:  # a name is checked when it is resolved
        try:
            _checked({literal}, allow_loopback)
        except TargetRefused as refused:
            return str(refused)
    return None


def _literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    if has_app_context():
        return current_app.config["WEBHOOK_DNS_TIMEOUT_SECONDS"]
    return DEFAULT_DNS_TIMEOUT_SECONDS


def _lookup(host: str, port: int, family: int = 0) -> list:
    try:
        return socket.getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupFailed(f"The host {host} cannot be resolved.") from exc


def _timed_out(host: str, timeout: float) -> LookupFailed:
    return LookupFailed(f"The look-up of host {host} timed out (after {timeout:g} s).")


def url_refusal(url: str, *, allow_loopback: bool, timeout: float | None = None) -> str | None:
    """Why a webhook URL may not be called (scheme, host, every resolved address), or None.

    The look-up waits at most `timeout` seconds (default: the app's
    `WEBHOOK_DNS_TIMEOUT_SECONDS`, else 2 s).
    """
    refusal = target_refusal(url, allow_loopback=allow_loopback)
    parts = urlsplit(url)
    if refusal or _literal_address(parts.hostname) is not None:
        return refusal
    seconds = _timeout(timeout)
    lookup = _LOOKUPS.submit(_lookup, parts.hostname, parts.port or 0)
    try:
        _checked(_addresses(lookup.result(timeout=seconds)), allow_loopback)
    except LookupTimeout:
        lookup.cancel()
        return str(_timed_out(parts.hostname, seconds))
    except (LookupFailed, TargetRefused) as exc:
        return str(exc)
    return None


class CheckedResolver(AbstractResolver):
    """An aiohttp resolver that answers only with checked addresses, within a timeout.

    A host is refused (`TargetRefused`) if ANY of its addresses is forbidden, so a mixed answer
    cannot smuggle an internal address in; aiohttp then connects to exactly the addresses
    returned here, and still sends the host name as Host header and TLS SNI.
    """

    def __init__(self, *, allow_loopback: bool, timeout: float = DEFAULT_DNS_TIMEOUT_SECONDS):
        self.allow_loopback = allow_loopback
        self.timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The host's addresses, every one of them allowed (or TargetRefused / LookupFailed)."""
        lookup = asyncio.get_running_loop().run_in_executor(
            _LOOKUPS, functools.partial(_lookup, host, port, family)
        )
        try:
            infos = await asyncio.wait_for(lookup, self.timeout)
        except TimeoutError:
            raise _timed_out(host, self.timeout) from None
        addresses = _addresses(infos)
        _checked(addresses, self.allow_loopback)
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in sorted(addresses, key=str)
        ]

    async def close(self) -> None:
        """Nothing to release: look-ups use the module's thread pool."""
