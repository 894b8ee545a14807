"""Client certificates on disk: what a connection writes for Spark, Java, Kafka and other clients.

At connect the platform issues an X.509 client certificate for (user, project); the connection
writes it under::

    <cert_folder>/<host>/<project>/<user>/<pid>-<random>/
        ca_chain.pem      the platform CA (PEM)
        client_cert.pem   the client certificate (PEM)
        client_key.pem    its private key (PEM, PKCS#8)
        keyStore.p12      key + certificate + CA (PKCS#12)
        trustStore.p12    the CA (PKCS#12)
        material_passwd   the password of both PKCS#12 stores

Folders are 0700 and files 0600. The last folder is unique per connection, so two connections,
two processes or two OS users never overwrite each other's files. The default ``cert_folder`` is
``~/.larder/certs``, private to the OS user; a ``cert_folder`` that other users may write to (such
as ``/tmp``) gets a private ``larder-<uid>`` folder per OS user in it first.

:func:`remove` deletes a connection's folder (and the folders above it that became empty);
``Connection.close()`` calls it, and so does interpreter exit when ``close()`` was forgotten. A
process that was killed removes nothing: the next connection on the host deletes the folders of
processes that are gone (:func:`sweep_dead`).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from larder.errors import ConfigurationError, ServerError
from larder.names import check_name

CA_CHAIN = "ca_chain.pem"
CLIENT_CERT = "client_cert.pem"
CLIENT_KEY = "client_key.pem"
KEY_STORE = "keyStore.p12"
TRUST_STORE = "trustStore.p12"
PASSWORD_FILE = "material_passwd"  # noqa: S105 - a file name, not a password

_CREATE_ATTEMPTS = 5


@dataclass(frozen=True)
class Certificates:
    """The paths of a connection's certificate files (no secret in its repr).

    Attributes:
        folder (Path): the connection's private folder (0700) holding the files below.
        ca_chain (Path): the platform CA certificate chain, PEM.
        client_cert (Path): the client certificate, PEM.
        client_key (Path): the client private key, PEM (PKCS#8, unencrypted; the file is 0600).
        key_store (Path): key + certificate + CA as PKCS#12, protected by :attr:`password`.
        trust_store (Path): the CA as a PKCS#12 trust store, protected by :attr:`password`.
        password_file (Path): the file holding the stores' password.
        user (str): the platform user the certificate names.
        project (str): the project the certificate names.
        serial (str): the certificate serial number, hex.
        expires_at (datetime): when the certificate expires (UTC).

    Example:
        >>> certs = conn.certificates  # doctest: +SKIP
        >>> spark_conf = {"spark.ssl.keyStore": str(certs.key_store),
        ...               "spark.ssl.keyStorePassword": certs.password}  # doctest: +SKIP
    """

    folder: Path
    ca_chain: Path
    client_cert: Path
    client_key: Path
    key_store: Path
    trust_store: Path
    password_file: Path
    user: str
    project: str
    serial: str
    expires_at: datetime

    @property
    def password(self) -> str:
        """The password of :attr:`key_store` and :attr:`trust_store` (read from :attr:`password_file`)."""
        return self.password_file.read_text()


def default_cert_folder() -> Path:
    """``~/.larder/certs``; or ``<tmp>/larder-<uid>/certs`` when the home folder is not writable."""
    home = Path.home()
    larder_dir = home / ".larder"
    try:
        if not larder_dir.exists():
            larder_dir.mkdir(mode=0o700, parents=True)
        if os.access(larder_dir, os.W_OK):
            return larder_dir / "certs"
    except OSError:
        pass
    own = Path(tempfile.gettempdir()) / f"larder-{os.getuid()}"
    _own_private_dir(own)
    return own / "certs"


def _own_private_dir(path: Path) -> None:
    """Create ``path`` 0700, or check an existing one is a real folder of ours; then make it 0700."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise ConfigurationError(
            f"Cannot create the certificate folder {path}: {e.strerror or e}; pass cert_folder=... "
            "(a folder you may write to).",
            details={"path": str(path)},
        ) from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise ConfigurationError(
            f"{path} exists but is not a folder owned by you (uid {os.getuid()}); Larder will not put "
            "certificates there. Remove it, or pass cert_folder=... (a folder only you may write to).",
            details={"path": str(path)},
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def private_root(cert_folder: str | os.PathLike[str] | None = None) -> Path:
    """The folder this OS user's certificate folders go in.

    Args:
        cert_folder (str | os.PathLike | None): the configured folder (None: :func:`default_cert_folder`).

    Returns:
        Path: ``cert_folder`` itself when it is owned by this OS user and not writable by others;
        else ``cert_folder/larder-<uid>`` (created 0700, checked to be ours).

    Raises:
        ConfigurationError: when the folder cannot be created, or a ``larder-<uid>`` in a shared
            folder exists but belongs to someone else.
    """
    root = Path(cert_folder).expanduser() if cert_folder is not None else default_cert_folder()
    root = root.absolute()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = root.stat()
    except OSError as e:
        raise ConfigurationError(
            f"Cannot create the certificate folder {root}: {e.strerror or e}; pass cert_folder=... "
            "(a folder you may write to).",
            details={"cert_folder": str(root)},
        ) from None
    if st.st_uid == os.getuid() and not st.st_mode & 0o022:
        return root
    own = root / f"larder-{os.getuid()}"  # a shared folder such as /tmp: one private folder per OS user
    _own_private_dir(own)
    return own


def _safe_component(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value)
    return cleaned if cleaned.strip(".") else cleaned.replace(".", "_")


def _mkdir_private(path: Path) -> None:
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # whatever the umask


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)


def materialize(
    credentials: Mapping[str, Any], host: str, cert_folder: str | os.PathLike[str] | None = None
) -> Certificates:
    """Write the credentials the platform issued into a new private folder.

    Args:
        credentials (Mapping[str, Any]): the body of ``GET /api/v1/projects/{project}/credentials``:
            ``user``, ``project``, ``serial``, ``expires_at``, ``client_cert``, ``client_key``,
            ``ca_chain``, ``key_store`` and ``trust_store`` (base64 PKCS#12), ``password``.
        host (str): the platform host (a path component).
        cert_folder (str | os.PathLike | None): where to write (default ``~/.larder/certs``).

    Returns:
        Certificates: the paths of the written files.

    Raises:
        ConfigurationError: when the folder cannot be created or is not private.
        ServerError: when the body lacks a field or holds invalid base64.
    """
    try:
        user = check_name("user", credentials["user"])
        project = check_name("project", credentials["project"])
        key_store = base64.b64decode(credentials["key_store"], validate=True)
        trust_store = base64.b64decode(credentials["trust_store"], validate=True)
        files: dict[str, bytes] = {
            CA_CHAIN: str(credentials["ca_chain"]).encode(),
            CLIENT_CERT: str(credentials["client_cert"]).encode(),
            CLIENT_KEY: str(credentials["client_key"]).encode(),
            KEY_STORE: key_store,
            TRUST_STORE: trust_store,
            PASSWORD_FILE: str(credentials["password"]).encode(),
        }
        serial = str(credentials["serial"])
        expires_at = datetime.fromisoformat(str(credentials["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise ServerError(
            f"The platform's credentials answer is malformed ({type(e).__name__}: {str(e)[:100]}).",
            details={"host": host},
        ) from None

    root = private_root(cert_folder)
    sweep_dead(root)
    parent = root / _safe_component(host) / project / user
    folder: Path | None = None
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            for p in (parent.parent.parent, parent.parent, parent):
                _mkdir_private(p)
            folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
            break
        except FileNotFoundError:  # another process removed an empty parent meanwhile: try again
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
        except OSError as e:
            raise ConfigurationError(
                f"Cannot create a certificate folder in {parent}: {e.strerror or e}; pass cert_folder=....",
                details={"cert_folder": str(root)},
            ) from None
    assert folder is not None
    try:
        for name, data in files.items():
            _write_private(folder / name, data)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise ConfigurationError(
            f"Cannot write the certificates into {folder}: {e.strerror or e}.",
            details={"folder": str(folder)},
        ) from None
    return Certificates(
        folder=folder,
        ca_chain=folder / CA_CHAIN,
        client_cert=folder / CLIENT_CERT,
        client_key=folder / CLIENT_KEY,
        key_store=folder / KEY_STORE,
        trust_store=folder / TRUST_STORE,
        password_file=folder / PASSWORD_FILE,
        user=user,
        project=project,
        serial=serial,
        expires_at=expires_at,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_dead(root: Path) -> int:
    """Delete the certificate folders under ``root`` (``<host>/<project>/<user>/<pid>-<random>``)
    whose process is gone: a process that was killed never removed its private key. A folder whose
    process id was reused by a live process is kept. Returns the folders removed; never raises."""
    removed = 0
    try:
        folders = [p for p in root.glob("*/*/*/*") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return 0
    for folder in folders:
        pid, _, rest = folder.name.partition("-")
        if not pid.isdigit() or not rest or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        remove(folder)
        removed += 1
    return removed


def remove(folder: str | os.PathLike[str], levels: int = 3) -> None:
    """Delete a connection's certificate folder, then up to ``levels`` parents that became empty.

    Never raises: it also runs at interpreter exit.

    Args:
        folder (str | os.PathLike): the folder :func:`materialize` created.
        levels (int): how many empty parents to remove (default 3: user, project, host).
    """
    path = Path(folder)
    shutil.rmtree(path, ignore_errors=True)
    for parent in list(path.parents)[:levels]:
        try:
            parent.rmdir()
        except OSError:  # not empty (another connection), or gone
            break
