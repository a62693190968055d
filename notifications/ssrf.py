"""SSRF guard for webhook targets: public http(s) addresses only (loopback only if allowed)."""
import ipaddress
import socket
from urllib.parse import urlsplit

CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")


def address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    """Why a resolved address may not be called, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is link-local (cloud metadata lives there)"
    if address.is_private or address in CARRIER_GRADE_NAT:
        return f"{address} is a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
        return f"{address} is not a unicast public address"
    return None


def url_refusal(url: str, *, allow_loopback: bool) -> str | None:
    """Why a webhook URL may not be called (scheme, host, every resolved address), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "Only http and https URLs are allowed."
    if not parts.hostname:
        return "The URL has no host."
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "The URL has an invalid port."
    try:
        addresses = {ipaddress.ip_address(parts.hostname)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return f"The host {parts.hostname} cannot be resolved."
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    for address in sorted(addresses, key=str):
        reason = address_refusal(address, allow_loopback)
        if reason:
            return f"Refused: {reason}."
    return None
