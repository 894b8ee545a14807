"""The embedded local platform: what ``larder.connection()`` uses when no host is given.

It lives under ``LARDER_HOME`` (default ``~/.larder/local``): created on first use, started on
loopback on a free port as a background ``larder server start`` process, and reused by every later
process (a file lock serialises start-up; state survives restarts). It holds a project ``default``
and a local API key (``LARDER_HOME/local_api_key``, 0600) with the data scopes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from larder.errors import ConfigurationError, ConnectionFailedError, LarderError, NotFoundError

log = logging.getLogger("larder.embedded")

DEFAULT_PROJECT = "default"
LOCAL_KEY_SCOPES = ["project", "featurestore", "modelregistry", "dataset"]
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EmbeddedPlatform:
    """A running embedded platform: its URL, CA certificate and local API key."""

    home: Path
    url: str
    ca_cert: Path
    api_key_file: Path
    project: str = DEFAULT_PROJECT

    @property
    def api_key(self) -> str:
        return self.api_key_file.read_text().strip()

    def __repr__(self) -> str:
        return f"EmbeddedPlatform(home={str(self.home)!r}, url={self.url!r})"


def default_home() -> Path:
    return Path(os.environ.get("LARDER_HOME") or Path.home() / ".larder" / "local").expanduser().resolve()


def _answers(url: str, ca_cert: Path) -> bool:
    from larder.client.rest import RestClient

    client = RestClient(url, verify=str(ca_cert), timeout=2.0, retries=0)
    try:
        client.get("/version")
        return True
    except LarderError:
        return False
    finally:
        client.close()


def _start_server(home: Path) -> str:
    url_file = home / "server.url"
    url_file.unlink(missing_ok=True)
    log_path = home / "server.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # the server's log is private
    with os.fdopen(fd, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "larder.cli", "server", "start", "--home", str(home), "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # outlives this process; a later process reuses it
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if url_file.exists():
            return url_file.read_text().strip()
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ConnectionFailedError(
                f"The embedded Larder server exited with code {proc.returncode}; see {log_path}:\n{tail}",
                details={"home": str(home)},
            )
        time.sleep(0.05)
    proc.terminate()
    raise ConnectionFailedError(
        f"The embedded Larder server did not start within {START_TIMEOUT_S:.0f} s; see {log_path}.",
        details={"home": str(home)},
    )


def ensure_platform(home: str | os.PathLike[str] | None = None) -> EmbeddedPlatform:
    """Start (or reuse) the embedded platform and return how to reach it.

    Args:
        home: the platform home (default ``LARDER_HOME`` or ``~/.larder/local``).

    Raises:
        ConfigurationError: when the server extra is not installed (``pip install 'larder-platform[server]'``).
        ConnectionFailedError: when the server does not come up; the message has its log's tail.
    """
    try:
        import larder.server.home as server_home
    except ImportError as e:
        raise ConfigurationError(
            f"The embedded platform needs the server extra ({e.name} is missing): "
            "pip install 'larder-platform[server]', or pass host=... to reach a running platform.",
        ) from e
    from filelock import FileLock

    root = Path(home).expanduser().resolve() if home else default_home()
    if not root.parent.exists():
        root.parent.mkdir(mode=0o700, parents=True)  # ~/.larder also holds credentials and certificates
    with FileLock(str(root) + ".lock", timeout=START_TIMEOUT_S * 2):
        if not (root / "server.toml").exists():
            log.info("Creating the embedded Larder platform in %s", root)
            server_home.init_home(root)
        ca_cert = root / "tls" / "ca.pem"
        url_file = root / "server.url"
        url = url_file.read_text().strip() if url_file.exists() else ""
        if not url or not _answers(url, ca_cert):
            log.info("Starting the embedded Larder server (home %s)", root)
            url = _start_server(root)
        key_file = root / "local_api_key"
        if not key_file.exists():
            _provision(root, url, ca_cert, key_file)
    return EmbeddedPlatform(root, url, ca_cert, key_file)


def _provision(root: Path, url: str, ca_cert: Path, key_file: Path) -> None:
    """Create the project ``default`` and the local key, once, with the admin key."""
    from larder.client.rest import RestClient

    admin_key = (root / "admin_api_key").read_text().strip()
    admin = RestClient(url, admin_key, verify=str(ca_cert))
    try:
        try:
            admin.get(f"/projects/{DEFAULT_PROJECT}")
        except NotFoundError:
            admin.post("/projects", {"name": DEFAULT_PROJECT, "description": "The embedded default project"})
        created = admin.post("/apikeys", {"name": f"local-{int(time.time())}", "scopes": LOCAL_KEY_SCOPES})
    finally:
        admin.close()
    tmp = key_file.with_name(".local_api_key.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(created["key"] + "\n")
    os.replace(tmp, key_file)


def stop_platform(home: str | os.PathLike[str] | None = None, timeout: float = 15.0) -> bool:
    """Stop the embedded server of ``home`` if it runs (SIGTERM). Returns True when one was stopped."""
    import signal

    root = Path(home).expanduser().resolve() if home else default_home()
    pid_file = root / "server.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(pid):
            return True
        time.sleep(0.05)
    return False


def _exited(pid: int) -> bool:
    """True once ``pid`` is gone. Reaps it when it is our own child (started by :func:`ensure_platform`
    in this process): a zombie still answers ``os.kill(pid, 0)``. Another process's exited child
    that its parent has not reaped yet counts as gone too (state ``Z`` in ``/proc``, on Linux)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return True
    except ChildProcessError:  # not our child
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # "pid (name) S ...": the state follows the last ')'
        zombie = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
    if zombie:  # it exited after the waitpid above: reap it now if it is ours
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return zombie


def demo(home: str | os.PathLike[str] | None = None) -> None:
    """``larder demo``: start the embedded platform and print its project and key."""
    platform = ensure_platform(home)
    print(f"Larder embedded platform: {platform.url} (home {platform.home})")
    print(f"  project:     {platform.project}")
    print(f"  API key:     {platform.api_key}  (file {platform.api_key_file}, 0600)")
    print(f"  CA cert:     {platform.ca_cert}")
    print("Connect from Python with: larder.connection()  # no host -> this embedded platform")
