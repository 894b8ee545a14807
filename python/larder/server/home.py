"""``larder server init``: create a platform home (database, CA, server certificate, admin key)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from larder.errors import ConfigurationError
from larder.server.security.ca import CertificateAuthority, create_ca
from larder.server.settings import HomePaths, ServerSettings


@dataclass
class InitResult:
    home: Path
    admin_api_key: str

    def __repr__(self) -> str:
        return f"InitResult(home={str(self.home)!r})"


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_home(
    home: str | os.PathLike[str],
    hostnames: list[str] | tuple[str, ...] = (),
    database_url: str | None = None,
    admin_email: str = "",
) -> InitResult:
    """Create a platform home and return the first admin API key.

    Args:
        home: the directory to create (must not already hold a platform).
        hostnames: extra DNS names or IPs for the server certificate (besides localhost/loopback).
        database_url: SQLAlchemy URL (default: SQLite in the home).
        admin_email: the admin user's email.

    Raises:
        ConfigurationError: when ``home`` already holds a platform.
    """
    root = Path(home).expanduser().resolve()
    paths = HomePaths(root)
    old_umask = os.umask(0o077)  # every file and folder made here is private by its own mode
    try:
        return _init(root, paths, hostnames, database_url, admin_email)
    finally:
        os.umask(old_umask)


def _init(
    root: Path,
    paths: HomePaths,
    hostnames: list[str] | tuple[str, ...],
    database_url: str | None,
    admin_email: str,
) -> InitResult:
    from larder.server.db.session import make_engine, make_session_factory, upgrade
    from larder.server.security.secretbox import SecretBox
    from larder.server.services import apikeys, storage, users

    if paths.config.exists():
        raise ConfigurationError(
            f"{root} already holds a Larder platform (server.toml exists); start it with "
            f"'larder server start --home {root}' or choose another directory.",
            details={"home": str(root)},
        )
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    paths.tls.mkdir(mode=0o700, exist_ok=True)

    create_ca(paths.ca_cert, paths.ca_key)
    ca = CertificateAuthority.load(paths.ca_cert, paths.ca_key)
    ca.write_server_certificate(paths.server_cert, paths.server_key, list(hostnames))

    lines = ["# Larder platform settings", "client_cert_validity_days = 30", "max_body_bytes = 1048576"]
    lines.append("hostnames = [" + ", ".join(_toml_str(h) for h in hostnames) + "]")
    if database_url:
        lines.append(f"database_url = {_toml_str(database_url)}")
    tmp = paths.config.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")

    settings = ServerSettings(home=root, database_url=database_url or f"sqlite:///{paths.sqlite}")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with make_session_factory(engine)() as db:
            admin = users.create_user(db, "admin", admin_email, "admin")
            _, plaintext = apikeys.create_for_user(
                db, admin, "admin", ["project", "featurestore", "modelregistry", "dataset", "admin"]
            )
            box = SecretBox(paths.secret_key)
            local = storage.add_store(db, box, "local", "local", root_path=str(paths.data))
            storage.create_namespace_unchecked(
                db, box, "default", "The built-in local namespace", local, "default"
            )
            db.commit()
    finally:
        engine.dispose()
    fd = os.open(paths.admin_api_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(plaintext + "\n")
    os.chmod(paths.ca_cert, 0o644)  # the CA certificate is public: clients are given it
    tmp.rename(paths.config)  # the home counts as initialised only once everything is in place
    return InitResult(root, plaintext)
