"""``larder server start``: serve the platform over HTTPS with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from larder.errors import ConfigurationError
from larder.server.settings import HomePaths, ServerSettings

log = logging.getLogger("larder.server")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio disables Nagle (TCP_NODELAY) only for sockets whose proto is
    # TCP; with proto 0 every small response waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigurationError(
            f"Cannot listen on {host}:{port}: {e.strerror}. Pick another --port (0 picks a free one).",
            details={"host": host, "port": port},
        ) from e
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(scheme: str, host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - we only name the address the server listens on
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def protect_home(paths: HomePaths) -> None:
    """Make a home's files 0600 and folders 0700 (homes made before these modes were set, or by
    hand). Files the home's owner shares on purpose, such as ``tls/ca.pem``, stay readable."""
    shared = {paths.ca_cert, paths.server_url}
    for path in [paths.root, *paths.root.iterdir(), *(paths.tls.iterdir() if paths.tls.is_dir() else [])]:
        if path in shared or path.is_symlink():
            continue
        try:
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
        except OSError as e:
            log.warning("could not protect %s: %s", path, e.strerror)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def serve(
    home: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8181,
    database_url: str | None = None,
    insecure_http: bool = False,
    log_level: str = "info",
) -> None:
    """Run the server until SIGTERM/SIGINT (graceful shutdown: in-flight requests finish).

    Args:
        home: the platform home made by ``larder server init``.
        host: address to listen on (default loopback).
        port: TCP port; 0 picks a free one. The URL is written to ``home/server.url``.
        database_url: overrides the home's configured database.
        insecure_http: serve plain HTTP; refused unless ``host`` is a loopback address.

    Raises:
        ConfigurationError: on an uninitialised home, a busy port, or plain HTTP off loopback.
    """
    import uvicorn

    from larder.server.app import create_app

    settings = ServerSettings.load(home, database_url)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # what the server creates (databases and their WAL files, the online store, namespaces'
    # folders) is its own: private by its own mode, not only by the home's 0700
    os.umask(0o077)
    protect_home(settings.paths)
    if insecure_http and not is_loopback(host):
        raise ConfigurationError(
            f"Plain HTTP is allowed only on loopback, not on {host!r}; drop --insecure-http to serve HTTPS.",
            details={"host": host},
        )
    app = create_app(settings)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    paths = settings.paths
    tls: dict[str, str] = {}
    if not insecure_http:
        tls = {"ssl_certfile": str(paths.server_cert), "ssl_keyfile": str(paths.server_key)}
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        lifespan="off",
        **tls,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    url = _url("http" if insecure_http else "https", host, bound_port)
    app.state.tokens.set_public_url(url)  # the issuer and audience, unless public_url is configured

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            _write_atomic(paths.server_pid, f"{os.getpid()}\n")
            _write_atomic(paths.server_url, url + "\n")
            log.info("Larder %s serving %s (home %s)", "HTTP" if insecure_http else "HTTPS", url, paths.root)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    # uvicorn handles SIGTERM/SIGINT itself (stop accepting, finish in-flight requests) and then
    # re-raises the signal to the handler it found: make that one a no-op so we exit 0, cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        app.state.sync_worker.stop(timeout=5)  # sends in flight finish or are retried after a restart
        try:
            if paths.server_url.read_text().strip() == url:
                paths.server_url.unlink()
        except FileNotFoundError:
            pass
        try:
            if paths.server_pid.read_text().strip() == str(os.getpid()):
                paths.server_pid.unlink()
        except FileNotFoundError:
            pass
        log.info("Larder server stopped")
