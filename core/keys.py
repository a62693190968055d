"""The server key and what is derived from it: keyed hashes that a database dump cannot reverse."""

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from flask import Flask, current_app, request

KEY_FILE_NAME = "secret_key"
# Phones get a whole IPv6 /64; counting single addresses would give each of them 2^64 budgets.
IPV6_CLIENT_PREFIX = 64


def load_server_key(app: Flask) -> bytes:
    """`SECRET_KEY` if configured; else a random key made once in the instance folder.

    The key must be the same in every worker and after restarts (stored fingerprints and login
    counters are keyed with it), and must not live in the database it protects: a file beside
    the code (mode 600) serves one host; several hosts set `SECRET_KEY`.
    """
    configured = app.config.get("SECRET_KEY")
    if configured:
        return configured.encode() if isinstance(configured, str) else configured
    path = Path(app.instance_path) / KEY_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # atomic and refuses to overwrite: the first worker's key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes().strip()


def purpose_key(purpose: str) -> bytes:
    """A key for one purpose (a keyed hash, a signed cookie), derived from the server key."""
    keys = current_app.extensions.setdefault("purpose_keys", {})
    if purpose not in keys:
        server_key = load_server_key(current_app)
        keys[purpose] = hmac.new(server_key, purpose.encode(), hashlib.sha256).digest()
    return keys[purpose]


def keyed_digest(purpose: str, message: str) -> str:
    """HMAC-SHA256 (hex) of `message` under the server key derived for `purpose`."""
    return hmac.new(purpose_key(purpose), message.encode(), hashlib.sha256).hexdigest()


def client_network(address: str | None) -> str:
    """The client a request comes from: its IPv4 address, or its IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)


def _forwarded(header: str) -> str | None:
    """With `TRUSTED_PROXY_HOPS` = n, the value the n-th proxy from us put into `header` (a
    comma-separated list each proxy appends to); None without trusted proxies or such an entry."""
    hops = current_app.config["TRUSTED_PROXY_HOPS"]
    if not hops:
        return None
    values = [value.strip() for value in request.headers.get(header, "").split(",")]
    values = [value for value in values if value]
    return values[-hops] if len(values) >= hops else None


def client_address() -> str | None:
    """The current request's client address: the connection's peer, or with
    `TRUSTED_PROXY_HOPS` = n, the address the n-th proxy from us put into `X-Forwarded-For`.

    Without trusted proxies the header is ignored: anyone can write it.
    """
    return _forwarded("X-Forwarded-For") or request.remote_addr


def served_over_https() -> bool:
    """Whether the client reached us over HTTPS: our own scheme, or with `TRUSTED_PROXY_HOPS`
    the scheme the trusted proxy reports in `X-Forwarded-Proto` (ignored without one)."""
    forwarded = _forwarded("X-Forwarded-Proto")
    return (forwarded or request.scheme).lower() == "https"


def hashed_client() -> str:
    """A keyed hash of the current request's client network (the raw address is never stored)."""
    return keyed_digest("client-address", client_network(client_address()))
