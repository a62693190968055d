"""The SSRF guard for webhook targets (no database; `localhost` resolves through /etc/hosts)."""

import asyncio
import ipaddress
import socket
import threading
from datetime import UTC, datetime

import pytest

from notifications.ssrf import (
    CheckedResolver,
    LookupFailed,
    TargetRefused,
    address_refusal,
    url_refusal,
)
from notifications.transports import send_webhook, webhook_session
from tests.receiver import Receiver

LOOPBACK = [
    "http://localhost/hook",
    "http://LOCALHOST:8080/hook",
    "http://127.0.0.1/hook",
    "http://127.255.255.254:9000/hook",
    "http://[::1]/hook",
    "http://[::1]:8443/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/hook",  # ... in hex
    "http://127.1/hook",  # ... abbreviated
    "http://[::ffff:127.0.0.1]/hook",  # ... IPv4-mapped IPv6
]
ALWAYS_REFUSED = [
    "http://10.0.0.1/hook",
    "http://10.255.255.255/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.255/hook",
    "http://192.168.0.1/hook",
    "http://192.168.255.254/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://169.254.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/hook",  # AWS metadata over IPv6 (unique local)
    "http://[fc00::1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://0.0.0.0/hook",
    "http://0/hook",
    "http://[::]/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://100.127.255.254/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://240.0.0.1/hook",  # reserved
    "http://255.255.255.255/hook",
]
BAD_SCHEMES = [
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "ws://example.com/hook",
    "//example.com/hook",
    "example.com/hook",
]
PUBLIC = [
    "https://93.184.216.34/hook",
    "http://8.8.8.8:8080/hook",
    "https://172.15.255.255/hook",  # just outside 172.16.0.0/12
    "https://172.32.0.1/hook",
    "https://192.169.0.1/hook",
    "https://100.63.255.255/hook",  # just outside 100.64.0.0/10
    "https://100.128.0.1/hook",
    "https://11.0.0.1/hook",
    "https://[2606:4700:4700::1111]/hook",
]


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_urls_are_refused_unless_loopback_is_allowed(url):
    refusal = url_refusal(url, allow_loopback=False)
    assert refusal is not None and "loopback" in refusal
    assert url_refusal(url, allow_loopback=True) is None


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_private_link_local_metadata_and_unspecified_addresses_are_refused_even_when_loopback_is_allowed(
    url, allow_loopback
):
    refusal = url_refusal(url, allow_loopback=allow_loopback)
    assert refusal is not None and refusal.startswith("Refused:")


@pytest.mark.parametrize("url", BAD_SCHEMES)
def test_urls_that_are_not_http_or_https_are_refused(url):
    assert url_refusal(url, allow_loopback=True) == "Only http and https URLs are allowed."


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_are_allowed(url):
    assert url_refusal(url, allow_loopback=False) is None


def test_a_host_that_does_not_resolve_is_refused():
    refusal = url_refusal("https://no-such-host.invalid/hook", allow_loopback=True)
    assert refusal == "The host no-such-host.invalid cannot be resolved."


def test_a_url_without_a_host_or_with_a_bad_port_is_refused():
    assert url_refusal("http:///hook", allow_loopback=True) == "The URL has no host."
    assert url_refusal("http://93.184.216.34:99999/hook", allow_loopback=True) == (
        "The URL has an invalid port."
    )


def test_link_local_is_named_as_such_so_the_merchant_sees_why():
    assert "link-local" in address_refusal(ipaddress.ip_address("169.254.169.254"), True)
    assert "private" in address_refusal(ipaddress.ip_address("192.168.1.1"), True)
    assert address_refusal(ipaddress.ip_address("::1"), True) is None


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> None:
    """Make `socket.getaddrinfo` answer `answers[host]` (a test double for DNS only)."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(f"unknown host {host}")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_host_name_is_refused_if_any_of_its_addresses_is_private(monkeypatch):
    fake_dns(
        monkeypatch,
        {
            "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
            "mixed.example": ["93.184.216.34", "10.0.0.7"],
            "rebound.example": ["169.254.169.254"],
            "local.example": ["127.0.0.1", "::1"],
        },
    )
    assert url_refusal("https://public.example/hook", allow_loopback=False) is None
    assert "10.0.0.7" in url_refusal("https://mixed.example/hook", allow_loopback=True)
    assert "link-local" in url_refusal("https://rebound.example/hook", allow_loopback=True)
    assert url_refusal("https://local.example/hook", allow_loopback=False) is not None
    assert url_refusal("https://local.example/hook", allow_loopback=True) is None


def test_6to4_teredo_and_nat64_addresses_around_a_private_ipv4_address_and_site_local_are_refused():
    for address in [
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "2002:c0a8:101::1",  # 6to4
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::7f00:1",  # NAT64 of 169.254.169.254, 127.0.0.1
        "fec0::1",
        "feff:ffff::1",
    ]:  # site-local
        assert address_refusal(ipaddress.ip_address(address), True), address
    around_public = ipaddress.ip_address("2002:5db8:d822::1")  # 6to4 of 93.184.216.34
    assert address_refusal(around_public, False) is None


def test_a_host_name_is_refused_if_any_of_its_addresses_is_private_at_delivery_too(monkeypatch):
    fake_dns(
        monkeypatch,
        {
            "mixed.example": ["93.184.216.34", "10.0.0.7"],
            "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
        },
    )
    resolver = CheckedResolver(allow_loopback=True)
    with pytest.raises(TargetRefused) as refused:
        asyncio.run(resolver.resolve("mixed.example", 443, socket.AF_UNSPEC))
    assert refused.value.kind == "private"
    answers = asyncio.run(resolver.resolve("public.example", 443, socket.AF_UNSPEC))
    assert sorted(answer["host"] for answer in answers) == ["2606:2800:220:1::1", "93.184.216.34"]


def hanging_dns(monkeypatch) -> threading.Event:
    """Make `socket.getaddrinfo` wait until the returned event is set (a DNS that never answers)."""
    answer = threading.Event()

    def getaddrinfo(*_args, **_kwargs):
        answer.wait(timeout=60)
        raise socket.gaierror("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answer


def test_a_look_up_that_never_answers_times_out_at_registration_and_at_delivery(monkeypatch):
    answer = hanging_dns(monkeypatch)
    try:
        assert url_refusal("https://hangs.example/hook", allow_loopback=False, timeout=0.2) == (
            "The look-up of host hangs.example timed out (after 0.2 s)."
        )
        with pytest.raises(LookupFailed):
            asyncio.run(CheckedResolver(allow_loopback=False, timeout=0.2).resolve("hangs.example"))
    finally:
        answer.set()


async def send(url: str, *, allow_loopback: bool, message_id: str = "msg_1", http=None):
    """One webhook delivery on a fresh (or the given) webhook session."""
    async with webhook_session(allow_loopback=allow_loopback, dns_timeout=1) as fresh:
        return await send_webhook(
            http or fresh,
            url,
            "whsec_" + "A" * 44,
            message_id,
            "deal.tipped",
            datetime.now(UTC),
            {},
            datetime.now(UTC),
            allow_loopback=allow_loopback,
        )


def test_the_guard_runs_again_at_delivery_so_a_host_that_now_resolves_to_loopback_gets_nothing(
    monkeypatch,
):
    fake_dns(monkeypatch, {"hook.example": ["127.0.0.1"]})  # was public when registered
    with Receiver() as receiver:
        outcome = asyncio.run(
            send(f"http://hook.example:{receiver.port}/hook", allow_loopback=False)
        )
        assert receiver.received() == []
    assert (outcome.ok, outcome.permanent) == (False, True)
    assert outcome.error == "refused by SSRF policy (loopback address)"


def test_deliveries_of_one_batch_to_the_same_host_share_one_look_up_and_are_all_refused(
    monkeypatch,
):
    lookups = []
    fake_dns(monkeypatch, {"hook.example": ["10.1.2.3"]})
    resolve = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: lookups.append(host) or resolve(host, *a, **k)
    )

    async def batch():
        async with webhook_session(allow_loopback=True, dns_timeout=1) as http:
            return await asyncio.gather(
                *(
                    send(
                        "https://hook.example/hook",
                        allow_loopback=True,
                        message_id=f"msg_{n}",
                        http=http,
                    )
                    for n in range(3)
                )
            )

    outcomes = asyncio.run(batch())
    assert [(outcome.ok, outcome.permanent) for outcome in outcomes] == [(False, True)] * 3
    assert {outcome.error for outcome in outcomes} == {"refused by SSRF policy (private address)"}
    assert lookups == ["hook.example"]
