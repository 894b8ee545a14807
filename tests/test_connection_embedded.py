"""`larder.connection()` with no host: the embedded local platform, from a clean LARDER_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_connection import isolated

import larder
from larder.client.embedded import stop_platform

FIXTURES = (isolated,)  # autouse: a private HOME, LARDER_HOME in tmp


def _alive(pid: int, wait_s: float = 10.0) -> bool:
    """Whether ``pid`` still runs ``wait_s`` seconds from now at the latest (an exited child of
    this process is reaped, as a zombie would answer os.kill)."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


def test_embedded_default_from_a_clean_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "larder-home"
    monkeypatch.setenv("LARDER_HOME", str(home))
    monkeypatch.setenv("LARDER_API_KEY", "0000000000000000.from-another-platform")  # ignored here
    assert not home.exists()
    pids: list[int] = []
    try:
        with larder.connection() as conn:
            pids.append(int((home / "server.pid").read_text()))
            assert conn.embedded and conn.project == "default" and conn.host == "127.0.0.1"
            assert conn.url == (home / "server.url").read_text().strip()
            assert conn.api_key_source == f"embedded platform key {home / 'local_api_key'}"
            assert conn.get_feature_store().name == "default_featurestore"
            assert conn.certificates.ca_chain.read_text() == (home / "tls" / "ca.pem").read_text()
            url, user = conn.url, conn.user
        assert conn.url is None and not conn.connected
        key = (home / "local_api_key").read_text()
        assert oct((home / "local_api_key").stat().st_mode & 0o777) == "0o600"

        with larder.connection() as again:  # a second connection reuses the running server
            assert again.url == url
            assert int((home / "server.pid").read_text()) == pids[0]

        assert stop_platform(home)  # state survives a restart
        assert not _alive(pids[0])
        with larder.connection() as restarted:
            pids.append(int((home / "server.pid").read_text()))
            assert pids[1] != pids[0]
            assert restarted.project == "default" and restarted.user == user
        assert (home / "local_api_key").read_text() == key
    finally:
        stop_platform(home)
    for pid in pids:
        assert not _alive(pid)


def test_embedded_uses_its_own_ca_even_with_hostname_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS is verified against the embedded platform's CA: another CA is refused (a trust store
    without a host means a remote platform was meant: an error naming the host settings)."""
    from larder.errors import ConfigurationError
    from larder.server.security.ca import create_ca

    home = tmp_path / "larder-home"
    monkeypatch.setenv("LARDER_HOME", str(home))
    create_ca(tmp_path / "other.pem", tmp_path / "other.key")
    try:
        with larder.connection(hostname_verification=True) as conn:
            assert conn.connected
        with pytest.raises(ConfigurationError, match="trust_store_path=.*no host was found.*LARDER_HOST"):
            larder.connection(trust_store_path=str(tmp_path / "other.pem"))
    finally:
        stop_platform(home)
