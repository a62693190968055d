"""The server key and the client network that keyed hashes are taken over."""

import stat
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from core.keys import client_network, load_server_key


def test_without_a_configured_key_every_worker_reads_the_same_private_key_file(tmp_path):
    apps = [Flask(__name__, instance_path=str(tmp_path / "instance")) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(load_server_key, apps))
    assert len(keys) == 1
    [key] = keys
    assert len(key) >= 43  # at least 256 random bits, url-safe base64
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [path.name for path in key_file.parent.iterdir()] == ["secret_key"]  # no drafts left
    assert load_server_key(Flask(__name__, instance_path=str(tmp_path / "instance"))) == key


def test_a_configured_key_wins_over_the_key_file(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config["SECRET_KEY"] = "configured-server-key"
    assert load_server_key(app) == b"configured-server-key"
    assert not (tmp_path / "secret_key").exists()


def test_an_ipv6_client_is_its_64_and_an_ipv4_client_its_address():
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_network("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_network("192.0.2.7") == "192.0.2.7"
    assert client_network(None) == "unknown"
