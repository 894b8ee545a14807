"""The ``larder`` command line.

``larder server init|start|link|rotate-keys`` run on the platform's host; the other commands talk
to a running server over REST, reached with ``--url URL --api-key-file FILE --trust-store PEM`` (or
the environment variables ``LARDER_URL``, ``LARDER_API_KEY``, ``LARDER_TRUST_STORE``); like the
connector, they exchange the key for an access token at the auth service the server names. ``--json``
prints machine-readable output for scripts.

Example::

    larder server init --home ~/larder-home --hostname larder.example.com
    larder server start --home ~/larder-home --port 8181 &
    export LARDER_URL=https://127.0.0.1:8181 LARDER_TRUST_STORE=~/larder-home/tls/ca.pem
    larder user create alice --email alice@example.com --api-key-file ~/larder-home/admin_api_key
    larder apikey create --user alice --scopes project,featurestore --api-key-file ~/larder-home/admin_api_key
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from larder import __version__
from larder.errors import LarderError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except LarderError as e:
        _fail(e.message)


def remote_options(f: F) -> F:
    """The options every command that talks to a server takes."""
    options = [
        click.option(
            "--url", envvar="LARDER_URL", help="Platform URL, e.g. https://host:8181 [env LARDER_URL]."
        ),
        click.option(
            "--api-key-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the API key (default: env LARDER_API_KEY).",
        ),
        click.option(
            "--trust-store",
            envvar="LARDER_TRUST_STORE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="PEM CA bundle to verify the server with [env LARDER_TRUST_STORE].",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _read_key_file(path: Path) -> str:
    """The API key a file holds (stripped); a clear failure when it cannot be read."""
    try:
        return path.read_text().strip()
    except OSError as e:
        _fail(f"Cannot read the API key file {path}: {e.strerror}.")


def _client(url: str | None, api_key_file: Path | None, trust_store: Path | None) -> Any:
    from larder.client.rest import RestClient

    if not url:
        _fail("No platform URL: pass --url https://HOST:PORT or set LARDER_URL.")
    if api_key_file is not None:
        key = _read_key_file(api_key_file)
    else:
        key = os.environ.get("LARDER_API_KEY", "").strip()
    if not key:
        _fail("No API key: pass --api-key-file FILE or set LARDER_API_KEY.")
    if trust_store is not None and not trust_store.is_file():
        _fail(f"The trust store {trust_store} does not exist; pass the platform's CA (<home>/tls/ca.pem).")
    verify: bool | str = str(trust_store) if trust_store else True
    from larder.client.auth import authenticate, discover

    client = RestClient(str(url), verify=verify)
    # tokens of the auth service the server names (the key itself on servers without one, or
    # when that auth service does not know the key, such as a linked server's own admin key)
    _run(lambda: authenticate(client, discover(client), key, verify=verify))
    return client


def _emit(as_json: bool, data: Any, human: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else human(data))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _split_csv(values: tuple[str, ...]) -> list[str]:
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


@click.group()
@click.version_option(__version__, prog_name="larder")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Larder: an open ML data platform (feature store, model registry, datasets)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# --- server -------------------------------------------------------------------------------------


@main.group()
def server() -> None:
    """Create and run a platform."""


@server.command("init")
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Platform home."
)
@click.option("--hostname", "hostnames", multiple=True, help="Extra host name for the server certificate.")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite in the home).")
@click.option("--admin-email", default="", help="Email of the admin user.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def server_init(
    home: Path, hostnames: tuple[str, ...], database_url: str | None, admin_email: str, as_json: bool
) -> None:
    """Create a platform home: database, CA, server certificate, admin user and API key."""
    from larder.server.home import init_home

    result = _run(lambda: init_home(home, list(hostnames), database_url, admin_email))
    from larder.server.settings import HomePaths

    paths = HomePaths(result.home)
    data = {
        "home": str(result.home),
        "ca_cert": str(paths.ca_cert),
        "admin_api_key_file": str(paths.admin_api_key),
        "admin_api_key": result.admin_api_key,
    }

    def human(d: dict[str, str]) -> str:
        return (
            f"Created Larder platform home {d['home']}\n"
            f"  CA certificate (give it to clients): {d['ca_cert']}\n"
            f"  Admin API key (shown once; also in {d['admin_api_key_file']}, mode 0600):\n"
            f"    {d['admin_api_key']}\n"
            f"Start it with: larder server start --home {d['home']}"
        )

    _emit(as_json, data, human)


@server.command("start")
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Platform home."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8181, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option("--database-url", help="Override the home's database URL.")
@click.option("--insecure-http", is_flag=True, help="Serve plain HTTP (loopback only).")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def server_start(
    home: Path, host: str, port: int, database_url: str | None, insecure_http: bool, log_level: str
) -> None:
    """Serve the platform over HTTPS until SIGTERM/SIGINT; writes the URL to HOME/server.url."""
    from larder.server.runner import serve

    logging.getLogger().setLevel(log_level.upper())
    _run(lambda: serve(home, host, port, database_url, insecure_http, log_level))


@server.command("stop")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Platform home (default: the embedded platform's, LARDER_HOME or ~/.larder/local).",
)
@click.option(
    "--timeout",
    default=15.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for it to exit.",
)
def server_stop(home: Path | None, timeout: float) -> None:
    """Stop the server running from a home (SIGTERM to the process in HOME/server.pid), and wait
    until it has exited. Exits 0 when it stopped or none was running, 1 when it outlived --timeout."""
    from larder.client.embedded import default_home, stop_platform

    root = (home or default_home()).expanduser().resolve()
    pid_file = root / "server.pid"
    pid = pid_file.read_text().strip() if pid_file.is_file() else None
    if stop_platform(root, timeout=timeout):
        click.echo(f"Stopped the server of {root} (pid {pid}).")
    elif pid_file.is_file():
        _fail(f"The server of {root} (pid {pid}) is still running after {timeout:g} s; try again or kill it.")
    else:
        click.echo(f"No server is running from {root}.")


@server.command("gc")
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Platform home."
)
@click.option(
    "--older-than",
    "older_than",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Remove upload part files not written to for this many seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def server_gc(home: Path, older_than: float, as_json: bool) -> None:
    """Remove what killed writers left in the home's object stores: hidden upload part files on
    local stores, multipart uploads started over a day ago on S3 (the server does it every hour)."""
    from dataclasses import asdict

    from larder.server.db.session import make_engine, make_session_factory
    from larder.server.janitor import sweep
    from larder.server.security.secretbox import SecretBox
    from larder.server.settings import ServerSettings

    def run() -> dict[str, object]:
        settings = ServerSettings.load(home)
        engine = make_engine(settings.database_url)
        try:
            with make_session_factory(engine)() as db:
                return asdict(sweep(db, SecretBox(settings.paths.secret_key), older_than))
        finally:
            engine.dispose()

    data = _run(run)
    _emit(
        as_json,
        data,
        lambda d: (
            f"Removed {d['part_files']} part file(s) ({d['part_bytes']} bytes), aborted "
            f"{d['multipart_uploads']} multipart upload(s)"
            + (f"; could not reach: {', '.join(d['errors'])}" if d["errors"] else "")
            + "."
        ),
    )


@server.command("rotate-keys")
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Platform home."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def server_rotate_keys(home: Path, as_json: bool) -> None:
    """Make a new key sign the auth service's access tokens. The old key stops signing at once and
    keeps verifying until its last tokens expire (token lifetime + leeway); a running server picks
    the new key up by itself. Keys retired longer ago are deleted."""
    from dataclasses import asdict

    from larder.server.db.session import make_engine, make_session_factory, upgrade
    from larder.server.security.secretbox import SecretBox
    from larder.server.security.tokens import rotate
    from larder.server.settings import ServerSettings

    def run() -> dict[str, object]:
        settings = ServerSettings.load(home)
        engine = make_engine(settings.database_url)
        try:
            upgrade(engine)
            with make_session_factory(engine)() as db:
                done = rotate(
                    db,
                    SecretBox(settings.paths.secret_key),
                    settings.token_lifetime_seconds,
                    settings.token_leeway_seconds,
                )
            return {
                **asdict(done),
                "verify_seconds": settings.token_lifetime_seconds + settings.token_leeway_seconds,
            }
        finally:
            engine.dispose()

    data = _run(run)
    _emit(
        as_json,
        data,
        lambda d: (
            f"New signing key {d['kid']}."
            + (
                f" Retired {', '.join(d['retired'])}: verifying for {d['verify_seconds']} s more."
                if d["retired"]
                else ""
            )
            + (f" Deleted {', '.join(d['removed'])}." if d["removed"] else "")
        ),
    )


@server.command("link")
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Platform home."
)
@click.option(
    "--auth-service",
    "auth_service",
    required=True,
    help="The auth service's URL (its public_url), e.g. https://larder.onprem.example:8181; '' unlinks.",
)
@click.option(
    "--trust-store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM CA bundle that verifies the auth service (default: the public CAs).",
)
@click.option("--no-check", is_flag=True, help="Do not ask the auth service whether the URL is its own.")
def server_link(home: Path, auth_service: str, trust_store: Path | None, no_check: bool) -> None:
    """Trust another server's auth service: accept its access tokens (verified with its JWKS, mapped
    to local users by name; users seen first are created without rights) and tell clients to
    exchange their API keys there. Writes server.toml; restart the server to apply it."""
    from larder.server.settings import ServerSettings

    url = auth_service.strip().rstrip("/")
    settings = _run(lambda: ServerSettings.load(home))
    if url and not url.startswith("https://"):
        _fail(f"--auth-service {url!r} is not an https:// URL.")
    if trust_store is not None and not trust_store.is_file():
        _fail(
            f"The trust store {trust_store} does not exist; pass the auth service's CA (<its home>/tls/ca.pem)."
        )
    ca = str(trust_store.expanduser().resolve()) if trust_store is not None else ""
    if url and not no_check:
        from larder.client.rest import RestClient

        client = RestClient(url, verify=ca or True, retries=0, timeout=10)
        try:
            found = _run(lambda: client.get("/discover"))
        finally:
            client.close()
        issuer = str((found or {}).get("issuer", ""))
        if issuer != url:
            _fail(
                f"The server at {url} issues its tokens as {issuer!r}, not {url!r}; link with "
                f"--auth-service {issuer}, or set public_url = {url!r} in that server's server.toml."
            )
    config = settings.paths.config
    lines = [
        line
        for line in config.read_text().splitlines()
        if line.split("=", 1)[0].strip() not in ("auth_service_url", "auth_service_trust_store")
    ]
    if url:
        lines.append(f"auth_service_url = {json.dumps(url)}")
        if ca:
            lines.append(f"auth_service_trust_store = {json.dumps(ca)}")
    config.write_text("\n".join(lines) + "\n")
    _run(lambda: ServerSettings.load(home))  # what was written reads back
    if url:
        click.echo(f"Linked {settings.home} to the auth service {url}; restart the server to apply it.")
    else:
        click.echo(f"{settings.home} uses its own auth service only; restart the server to apply it.")


# --- users --------------------------------------------------------------------------------------


@main.group()
def user() -> None:
    """Manage users (admin)."""


@user.command("create")
@click.argument("username")
@click.option("--email", default="", help="Email address.")
@click.option("--role", default="user", type=click.Choice(["admin", "privileged", "user"]), show_default=True)
@remote_options
def user_create(
    username: str, email: str, role: str, url: str, api_key_file: Path, trust_store: Path, as_json: bool
) -> None:
    """Create a user."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.post("/users", {"username": username, "email": email, "role": role}))
    _emit(as_json, data, lambda d: f"Created user {d['username']} ({d['role']}).")


@user.command("list")
@remote_options
def user_list(url: str, api_key_file: Path, trust_store: Path, as_json: bool) -> None:
    """List users."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.get("/users"))
    _emit(as_json, data, lambda d: _table(d, ["username", "role", "email", "created_at"]))


# --- projects -----------------------------------------------------------------------------------


@main.group()
def project() -> None:
    """Manage projects."""


@project.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the project is for.")
@remote_options
def project_create(
    name: str, description: str, url: str, api_key_file: Path, trust_store: Path, as_json: bool
) -> None:
    """Create a project; you become its owner and data_owner."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.post("/projects", {"name": name, "description": description}))
    _emit(as_json, data, lambda d: f"Created project {d['name']} (owner {d['owner']}).")


@project.command("list")
@remote_options
def project_list(url: str, api_key_file: Path, trust_store: Path, as_json: bool) -> None:
    """List the projects you are a member of."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.get("/projects"))
    _emit(as_json, data, lambda d: _table(d, ["name", "owner", "description", "created_at"]))


# --- API keys -----------------------------------------------------------------------------------


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.option("--user", "username", help="Create the key for this user (admin only).")
@click.option(
    "--scopes",
    multiple=True,
    required=True,
    help="Comma-separated scopes: project, featurestore, modelregistry, dataset, admin.",
)
@click.option("--name", help="Key name (default: key-<UTC timestamp>).")
@click.option("--expires-in", "expires_in", type=click.IntRange(1, 3650), help="Days until the key expires.")
@remote_options
def apikey_create(
    username: str | None,
    scopes: tuple[str, ...],
    name: str | None,
    expires_in: int | None,
    url: str,
    api_key_file: Path,
    trust_store: Path,
    as_json: bool,
) -> None:
    """Create an API key; the secret is printed once."""
    client = _client(url, api_key_file, trust_store)
    body: dict[str, Any] = {
        "name": name or f"key-{datetime.now(timezone.utc):%Y%m%d%H%M%S}",
        "scopes": _split_csv(scopes),
        "expires_in_days": expires_in,
    }
    if username:
        body["user"] = username
    data = _run(lambda: client.post("/apikeys", body))
    _emit(
        as_json,
        data,
        lambda d: (
            f"Created API key {d['name']} ({d['prefix']}) for {d['user']}, scopes "
            f"{','.join(d['scopes'])}. Store it now; it is not shown again:\n{d['key']}"
        ),
    )


@apikey.command("list")
@click.option("--user", "username", help="List this user's keys (admin only).")
@remote_options
def apikey_list(username: str | None, url: str, api_key_file: Path, trust_store: Path, as_json: bool) -> None:
    """List API keys (never their secrets)."""
    client = _client(url, api_key_file, trust_store)
    params = {"user": username} if username else None
    data = _run(lambda: client.get("/apikeys", params=params))
    _emit(as_json, data, lambda d: _table(d, ["name", "prefix", "scopes", "expires_at", "revoked_at"]))


@apikey.command("revoke")
@click.argument("name")
@click.option("--user", "username", help="Revoke this user's key (admin only).")
@remote_options
def apikey_revoke(
    name: str, username: str | None, url: str, api_key_file: Path, trust_store: Path, as_json: bool
) -> None:
    """Revoke an API key by name or prefix."""
    client = _client(url, api_key_file, trust_store)
    params = {"user": username} if username else None
    data = _run(lambda: client.delete(f"/apikeys/{name}", params=params))
    _emit(as_json, data, lambda d: f"Revoked API key {d['name']} ({d['prefix']}).")


# --- object stores ------------------------------------------------------------------------------


@main.group()
def objectstore() -> None:
    """Register object stores (admin): a local directory or an S3-compatible service."""


@objectstore.command("add")
@click.argument("name")
@click.option("--type", "store_type", required=True, type=click.Choice(["local", "s3"]), help="Store type.")
@click.option("--root", "root_path", help="local: absolute directory on the server's host.")
@click.option("--endpoint-url", help="s3: endpoint (omit for AWS; e.g. a MinIO URL).")
@click.option("--sts-endpoint-url", help="s3: STS endpoint when it differs from --endpoint-url.")
@click.option("--region", help="s3: region (default us-east-1).")
@click.option("--role-arn", help="s3: the role the server assumes to vend scoped credentials.")
@click.option("--access-key-id", help="s3: the server's own access key id (default: its AWS chain).")
@click.option(
    "--secret-access-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="s3: file holding the server's secret access key (kept encrypted by the server).",
)
@remote_options
def objectstore_add(
    name: str,
    store_type: str,
    root_path: str | None,
    endpoint_url: str | None,
    sts_endpoint_url: str | None,
    region: str | None,
    role_arn: str | None,
    access_key_id: str | None,
    secret_access_key_file: Path | None,
    url: str,
    api_key_file: Path,
    trust_store: Path,
    as_json: bool,
) -> None:
    """Register an object store NAME."""
    client = _client(url, api_key_file, trust_store)
    secret = None
    if secret_access_key_file is not None:
        try:
            secret = secret_access_key_file.read_text().strip()
        except OSError as e:
            _fail(f"Cannot read {secret_access_key_file}: {e.strerror}.")
    body = {
        "name": name,
        "type": store_type,
        "root_path": root_path,
        "endpoint_url": endpoint_url,
        "sts_endpoint_url": sts_endpoint_url,
        "region": region,
        "role_arn": role_arn,
        "access_key_id": access_key_id,
        "secret_access_key": secret,
    }
    data = _run(lambda: client.post("/objectstores", body))
    _emit(as_json, data, lambda d: f"Registered object store {d['name']} ({d['type']}).")


@objectstore.command("list")
@remote_options
def objectstore_list(url: str, api_key_file: Path, trust_store: Path, as_json: bool) -> None:
    """List object stores (never their secrets)."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.get("/objectstores"))
    _emit(as_json, data, lambda d: _table(d, ["name", "type", "root_path", "endpoint_url", "region"]))


# --- namespaces, datasets and their sync ------------------------------------------------------


SYNC_TARGET_COLUMNS = ["target_core_service", "target_namespace", "sync_type"]


@main.group()
def namespace() -> None:
    """Namespaces (buckets) and their sync targets."""


@namespace.command("list")
@remote_options
def namespace_list(url: str, api_key_file: Path, trust_store: Path, as_json: bool) -> None:
    """List namespaces."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.get("/namespaces"))
    _emit(as_json, data, lambda d: _table(d, ["name", "object_store", "bucket", "description"]))


@namespace.command("sync-targets")
@click.argument("name")
@remote_options
def namespace_sync_targets(name: str, url: str, api_key_file: Path, trust_store: Path, as_json: bool) -> None:
    """Show namespace NAME's sync targets."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.get(f"/namespaces/{name}/sync-targets"))
    _emit(as_json, data, lambda d: _table(d, SYNC_TARGET_COLUMNS))


@namespace.command("enable-sync-target")
@click.argument("name")
@click.option(
    "--target", "target", required=True, help="The target's API URL, e.g. https://cloud:8181/api/v1."
)
@click.option("--target-namespace", required=True, help="The namespace on the target server.")
@click.option("--sync-type", type=click.Choice(["simplex", "duplex"]), required=True, help="1-way or 2-way.")
@click.option(
    "--target-api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding an admin API key of the target server (kept encrypted; needed once per server).",
)
@click.option(
    "--target-trust-store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The target server's CA bundle (PEM).",
)
@remote_options
def namespace_enable_sync_target(
    name: str,
    target: str,
    target_namespace: str,
    sync_type: str,
    target_api_key_file: Path | None,
    target_trust_store: Path | None,
    url: str,
    api_key_file: Path,
    trust_store: Path,
    as_json: bool,
) -> None:
    """Add a sync target to namespace NAME (admin)."""
    client = _client(url, api_key_file, trust_store)
    body: dict[str, Any] = {
        "target_core_service": target,
        "sync_type": sync_type,
        "target_namespace": target_namespace,
    }
    if target_api_key_file is not None:
        body["api_key"] = _read_key_file(target_api_key_file)
    if target_trust_store is not None:
        if not target_trust_store.is_file():
            _fail(
                f"The trust store {target_trust_store} does not exist; pass the target's CA (<its home>/tls/ca.pem)."
            )
        body["trust_store_pem"] = target_trust_store.read_text()
    data = _run(lambda: client.post(f"/namespaces/{name}/sync-targets", body))
    if data.get("warning"):
        click.echo(f"Warning: {data['warning']}", err=True)
    _emit(
        as_json,
        data["targets"],
        lambda d: _table(d, SYNC_TARGET_COLUMNS),
    )


@namespace.command("disable-sync-target")
@click.argument("name")
@click.option("--target", "target", required=True, help="The target's API URL.")
@click.option("--target-namespace", required=True, help="The namespace on the target server.")
@remote_options
def namespace_disable_sync_target(
    name: str,
    target: str,
    target_namespace: str,
    url: str,
    api_key_file: Path,
    trust_store: Path,
    as_json: bool,
) -> None:
    """Remove a sync target from namespace NAME (admin)."""
    client = _client(url, api_key_file, trust_store)
    params = {"target_core_service": target, "target_namespace": target_namespace}
    data = _run(lambda: client.delete(f"/namespaces/{name}/sync-targets", params=params))
    _emit(as_json, data, lambda d: _table(d, SYNC_TARGET_COLUMNS))


@main.group()
def dataset() -> None:
    """Datasets: their sync."""


@dataset.command("enable-sync")
@click.argument("namespace_name", metavar="NAMESPACE")
@click.argument("name")
@click.option("--sync-type", type=click.Choice(["simplex", "duplex"]), default="simplex", show_default=True)
@click.option(
    "--policy-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A sync policy (JSON, Hoss's format) selecting what syncs; default everything.",
)
@remote_options
def dataset_enable_sync(
    namespace_name: str,
    name: str,
    sync_type: str,
    policy_file: Path | None,
    url: str,
    api_key_file: Path,
    trust_store: Path,
    as_json: bool,
) -> None:
    """Sync dataset NAME of NAMESPACE to the namespace's targets (owner or admin)."""
    client = _client(url, api_key_file, trust_store)
    policy = None
    if policy_file is not None:
        try:
            policy = json.loads(policy_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            _fail(f"Cannot read the sync policy {policy_file}: {e}.")
    data = _run(
        lambda: client.put(
            f"/namespaces/{namespace_name}/datasets/{name}/sync",
            {"sync_type": sync_type, "sync_policy": policy},
        )
    )
    _emit(
        as_json, data, lambda d: f"Dataset {d['name']} syncs {d['sync_type']}; what it holds is being copied."
    )


@dataset.command("disable-sync")
@click.argument("namespace_name", metavar="NAMESPACE")
@click.argument("name")
@remote_options
def dataset_disable_sync(
    namespace_name: str, name: str, url: str, api_key_file: Path, trust_store: Path, as_json: bool
) -> None:
    """Stop syncing dataset NAME of NAMESPACE."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.delete(f"/namespaces/{namespace_name}/datasets/{name}/sync"))
    _emit(as_json, data, lambda d: f"Dataset {d['name']} no longer syncs.")


def _sync_status_text(d: dict[str, Any]) -> str:
    head = (
        f"{d['namespace']}/{d['dataset']}: {d['state']}"
        + (f" ({d['sync_type']})" if d["sync_type"] else "")
        + f", {d['pending']} pending, lag {d['lag_seconds']:.1f} s, {d['conflicts']} conflict(s)"
        + (f"; receives from {d['source']}" if d.get("source") else "")
    )
    rows = [
        {
            "target": t["target_core_service"],
            "namespace": t["target_namespace"],
            "state": t["state"],
            "pending": t["pending"],
            "copied": t["copied"],
            "deleted": t["deleted"],
            "last_reconciled_at": t["last_reconciled_at"],
            "last_error": t["last_error"][:60] or None,
        }
        for t in d["targets"]
    ]
    cols = [
        "target",
        "namespace",
        "state",
        "pending",
        "copied",
        "deleted",
        "last_reconciled_at",
        "last_error",
    ]
    return head + ("\n" + _table(rows, cols) if rows else "")


@dataset.command("sync-status")
@click.argument("namespace_name", metavar="NAMESPACE")
@click.argument("name")
@remote_options
def dataset_sync_status(
    namespace_name: str, name: str, url: str, api_key_file: Path, trust_store: Path, as_json: bool
) -> None:
    """Show where dataset NAME's sync stands: pending changes, lag, errors, reconciliation."""
    client = _client(url, api_key_file, trust_store)
    data = _run(lambda: client.get(f"/namespaces/{namespace_name}/datasets/{name}/sync"))
    _emit(as_json, data, _sync_status_text)


@dataset.command("reconcile")
@click.argument("namespace_name", metavar="NAMESPACE")
@click.argument("name")
@click.option("--checksum", is_flag=True, help="Also compare the SHA-256 of every copy (reads them all).")
@remote_options
def dataset_reconcile(
    namespace_name: str,
    name: str,
    checksum: bool,
    url: str,
    api_key_file: Path,
    trust_store: Path,
    as_json: bool,
) -> None:
    """Compare dataset NAME with its copies now and queue repairs."""
    client = _client(url, api_key_file, trust_store)
    data = _run(
        lambda: client.post(
            f"/namespaces/{namespace_name}/datasets/{name}/sync/reconcile", {"checksum": checksum}
        )
    )
    _emit(
        as_json,
        data,
        lambda d: (
            "\n".join(f"checked {r['checked']}, repaired {r['repaired']}" for r in d["reports"])
            or "Not syncing."
        ),
    )


@main.group()
def sync() -> None:
    """The sync worker, run apart from the server."""


@sync.command("worker")
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Platform home."
)
def sync_worker(home: Path) -> None:
    """Run the sync worker of a platform home in this process, until stopped (SIGTERM/Ctrl-C).

    Set sync_worker = false in the home's server.toml so that the server does not run one too.
    """
    from larder.server.sync.worker import run_standalone

    _run(lambda: run_standalone(home))


# --- demo ---------------------------------------------------------------------------------------


@main.command("demo")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), help="Embedded platform home.")
def demo(home: Path | None) -> None:
    """Start the embedded platform, create a project and a key, and print them."""
    from larder.client.embedded import demo as run_demo

    _run(lambda: run_demo(home))


# --- web UI -------------------------------------------------------------------------------------


@main.command("ui")
@click.option(
    "--url", envvar="LARDER_URL", help="Platform URL [env LARDER_URL]; default: the embedded platform."
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the API key (default: env LARDER_API_KEY; the embedded platform's own key).",
)
@click.option(
    "--trust-store",
    envvar="LARDER_TRUST_STORE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM CA bundle to verify the server with [env LARDER_TRUST_STORE].",
)
@click.option("--no-browser", is_flag=True, help="Print the sign-in link instead of opening a browser.")
def ui(url: str | None, api_key_file: Path | None, trust_store: Path | None, no_browser: bool) -> None:
    """Open the web UI in a browser, signed in as the API key's user.

    The browser gets a one-time sign-in link (valid 120 s, good once), never the key itself.
    Without --url (and LARDER_URL) this is the embedded platform's UI, started if needed.
    """
    import webbrowser

    if not url:
        from larder.client.embedded import ensure_platform

        platform = _run(ensure_platform)
        url, trust_store = platform.url, trust_store or platform.ca_cert
        api_key_file = api_key_file or platform.api_key_file
    client = _client(url, api_key_file, trust_store)
    try:
        link = _run(lambda: client.post("/ui/login-links", {}))
    finally:
        client.close()
    if no_browser:
        click.echo(link["url"])
        click.echo("(a one-time sign-in link, valid 120 s)", err=True)
    elif webbrowser.open(link["url"]):
        click.echo(f"Opened {url.rstrip('/')}/ in your browser.")
    else:
        click.echo(f"No browser found; open this one-time sign-in link (valid 120 s):\n{link['url']}")


# --- login --------------------------------------------------------------------------------------


@main.command("login")
@click.option(
    "--url", envvar="LARDER_URL", required=True, help="Platform URL, e.g. https://host:8181 [env LARDER_URL]."
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the API key (default: ask for it, hidden).",
)
@click.option(
    "--trust-store",
    envvar="LARDER_TRUST_STORE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM CA bundle to verify the server with [env LARDER_TRUST_STORE].",
)
@click.option("--no-check", is_flag=True, help="Store the key without checking it against the server.")
def login(url: str, api_key_file: Path | None, trust_store: Path | None, no_check: bool) -> None:
    """Store an API key for a platform in ~/.larder/credentials (0600).

    larder.connection(host=..., port=...) then finds it with the default secrets_store="local".
    """
    from urllib.parse import urlsplit

    from larder.client.apikey import write_profile

    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        _fail(f"Invalid --url {url!r}: use https://HOST[:PORT].")
    host, port = str(parts.hostname), int(parts.port or 443)
    if api_key_file is not None:
        key = _read_key_file(api_key_file)
    else:
        key = click.prompt("API key", hide_input=True).strip()
    if not key:
        _fail("The API key is empty.")
    who = ""
    if not no_check:
        from larder.client.rest import RestClient

        client = RestClient(url, key, verify=str(trust_store) if trust_store else True)
        try:
            who = f" (user {_run(lambda: client.get('/users/me'))['username']})"
        finally:
            client.close()
    path = _run(lambda: write_profile(host, port, key))
    click.echo(f"Stored the API key for {host}:{port}{who} in {path}.")


if __name__ == "__main__":  # pragma: no cover
    main()
