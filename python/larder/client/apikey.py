"""API-key resolution: an ordered chain of providers, in the style of botocore's credentials.

Each provider looks in one place and returns a key or None; the chain returns the first key found,
and when none is found raises :class:`~larder.errors.ApiKeyNotFoundError` listing every place it
looked. A provider raises at once when the user explicitly pointed at a source that is broken (an
``api_key_file`` that does not exist, a secret without the ``api-key`` field, no AWS credentials).

The order :func:`default_chain` builds (first match wins):

1. ``api_key_value`` (the argument);
2. ``api_key_file`` (the argument; honoured whatever ``secrets_store`` is);
3. the environment variable ``LARDER_API_KEY`` (after the store when the store is an AWS one, which
   is only ever chosen explicitly: explicit arguments win over the environment);
4. the ``secrets_store``:

   - ``"local"``: ``~/.larder/credentials``, an INI file with one section per platform
     (``[host:port]``, or ``[host]``) holding ``api_key = ...``; written by ``larder login``, 0600.
   - ``"secretsmanager"``: the AWS Secrets Manager secret ``larder/role/<role>``, a JSON object
     whose field ``api-key`` is the key.
   - ``"parameterstore"``: the AWS SSM parameter ``/larder/role/<role>/type/api-key``
     (a ``SecureString``, read with decryption).

   ``<role>`` is the IAM role the process runs as, from ``sts.get_caller_identity()`` (an
   ``arn:aws:sts::<account>:assumed-role/<role>/<session>`` ARN). ``boto3`` is imported only for
   these two stores (``pip install 'larder-platform[aws]'``).

Keys never appear in messages, logs or reprs (while a secret is read, botocore's DEBUG log of the
response body is dropped for that thread: it would hold the key).

Example:
    >>> chain = default_chain(host="larder.example.com", port=443, api_key_value="abc.def")
    >>> chain.resolve().source
    'api_key_value'
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from larder.errors import ApiKeyNotFoundError, ConfigurationError, ConnectionFailedError

log = logging.getLogger("larder.client.apikey")

ENV_API_KEY = "LARDER_API_KEY"
SECRETS_STORES: tuple[str, ...] = ("local", "secretsmanager", "parameterstore")
API_KEY_FIELD = "api-key"
PROFILE_KEY_OPTION = "api_key"
DEFAULT_REGION = "default"

_PRINTABLE_KEY = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: a key that fits in an HTTP header
_ASSUMED_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/([^/]+)/[^/]+$")


def credentials_path() -> Path:
    """The local credentials file: ``~/.larder/credentials``."""
    return Path.home() / ".larder" / "credentials"


def profile_name(host: str, port: int) -> str:
    """The section of a platform in the local credentials file: ``host:port`` (IPv6 in brackets)."""
    return f"{_host_for_url(host)}:{port}"


def secret_name(role: str) -> str:
    """The Secrets Manager secret that holds the key of IAM role ``role``: ``larder/role/<role>``."""
    return f"larder/role/{role}"


def parameter_name(role: str) -> str:
    """The SSM parameter that holds the key of IAM role ``role``: ``/larder/role/<role>/type/api-key``."""
    return f"/larder/role/{role}/type/api-key"


@dataclass(frozen=True)
class ResolvedApiKey:
    """An API key and where it came from. Its repr never shows the key.

    Attributes:
        key (str): the API key.
        source (str): where it was found, e.g. ``"env LARDER_API_KEY"`` (no secret inside).
    """

    key: str = field(repr=False)
    source: str

    def __repr__(self) -> str:
        return f"ResolvedApiKey(source={self.source!r})"


def _check_key(key: str, source: str) -> str:
    key = key.strip()
    if key and not _PRINTABLE_KEY.match(key):
        raise ConfigurationError(
            f"The API key from {source} contains spaces or control characters; a Larder API key is one "
            "line of visible characters ('<prefix>.<secret>'). Store the key alone in it.",
            details={"source": source},
        )
    return key


class ApiKeyProvider(ABC):
    """One place an API key may be found.

    Subclasses implement :meth:`load`, which returns the key or None and sets :attr:`tried`, a
    sentence fragment saying what was looked at and with what outcome (never the key).
    """

    method: str = "provider"

    def __init__(self) -> None:
        self.tried = self.method

    @abstractmethod
    def load(self) -> str | None:
        """Return the key, or None when this source has none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ValueProvider(ApiKeyProvider):
    """The ``api_key_value`` argument."""

    method = "api_key_value"

    def __init__(self, value: str | None) -> None:
        super().__init__()
        self._value = value

    def load(self) -> str | None:
        if self._value is None:
            self.tried = "api_key_value (not given)"
            return None
        if not isinstance(self._value, str):
            raise ConfigurationError(
                f"api_key_value must be a string, not {type(self._value).__name__}.",
                details={"source": self.method},
            )
        key = _check_key(self._value, self.method)
        if not key:
            raise ConfigurationError("api_key_value is empty; pass the API key or leave it None.")
        self.tried = self.method
        return key


class FileProvider(ApiKeyProvider):
    """A file holding the key (``api_key_file``); an explicitly given file must exist and hold a key.

    Args:
        path (str | os.PathLike | None): the file; None means not given.
        method (str): how messages name this source (default ``"api_key_file"``).
    """

    method = "api_key_file"

    def __init__(self, path: str | os.PathLike[str] | None, method: str = "api_key_file") -> None:
        super().__init__()
        self.method = method
        self._path = Path(path).expanduser() if path is not None else None

    def load(self) -> str | None:
        if self._path is None:
            self.tried = f"{self.method} (not given)"
            return None
        source = f"{self.method} {self._path}"
        try:
            text = self._path.read_text()
        except FileNotFoundError:
            raise ConfigurationError(
                f"{self.method} {self._path} does not exist; pass the path of a file that holds the API key.",
                details={"source": self.method, "path": str(self._path)},
            ) from None
        except OSError as e:
            raise ConfigurationError(
                f"Cannot read {source}: {e.strerror or e}.",
                details={"source": self.method, "path": str(self._path)},
            ) from None
        key = _check_key(text, source)
        if not key:
            raise ConfigurationError(
                f"{source} is empty; write the API key into it.",
                details={"source": self.method, "path": str(self._path)},
            )
        self.tried = source
        return key


class EnvProvider(ApiKeyProvider):
    """An environment variable (default ``LARDER_API_KEY``); empty counts as unset."""

    method = "env"

    def __init__(self, variable: str = ENV_API_KEY) -> None:
        super().__init__()
        self.variable = variable

    def load(self) -> str | None:
        source = f"env {self.variable}"
        value = os.environ.get(self.variable, "")
        key = _check_key(value, source) if value.strip() else ""
        self.tried = source if key else f"{source} (not set)"
        return key or None


class LocalCredentialsProvider(ApiKeyProvider):
    """The profile of a platform in ``~/.larder/credentials`` (``secrets_store="local"``).

    Sections are looked up as ``[host:port]`` first, then ``[host]``; the key is the ``api_key``
    option. A file readable by other users still works but warns.

    Args:
        host (str): the platform host, as passed to the connection.
        port (int): the platform port.
        path (str | os.PathLike | None): the file (default :func:`credentials_path`).
    """

    method = "local credentials"

    def __init__(self, host: str, port: int, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self._path = Path(path) if path is not None else None

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else credentials_path()

    def load(self) -> str | None:
        path = self.path
        sections = [profile_name(self.host, self.port), self.host]
        wanted = " or ".join(f"[{s}]" for s in sections)
        try:
            st = path.stat()
        except FileNotFoundError:
            self.tried = f"local credentials {path} (no such file; create it with 'larder login')"
            return None
        if st.st_mode & 0o077:
            warnings.warn(
                f"{path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                f"restrict it with: chmod 600 {path}",
                UserWarning,
                stacklevel=2,
            )
        parser = _read_profiles(path)
        for section in sections:
            if parser.has_section(section):
                value = parser.get(section, PROFILE_KEY_OPTION, fallback="")
                source = f"local credentials {path} [{section}]"
                key = _check_key(value, source)
                if key:
                    self.tried = source
                    return key
        self.tried = f"local credentials {path} (no profile {wanted} with an {PROFILE_KEY_OPTION})"
        return None


def _read_profiles(path: Path) -> Any:
    import configparser

    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    try:
        parser.read_string(path.read_text(), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as e:
        raise ConfigurationError(
            f"{path} is not a valid credentials file ({type(e).__name__}); expected INI sections like "
            f"[host:port] with {PROFILE_KEY_OPTION} = <key>. Rewrite it with 'larder login'.",
            details={"path": str(path)},
        ) from None
    except OSError as e:
        raise ConfigurationError(
            f"Cannot read {path}: {e.strerror or e}.", details={"path": str(path)}
        ) from None
    return parser


def write_profile(host: str, port: int, key: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Store ``key`` as the profile ``[host:port]`` of the local credentials file.

    The file and its folder are created private (folder 0700, file 0600) and the file is replaced
    atomically; other profiles are kept. This is what ``larder login`` runs.

    Args:
        host (str): the platform host, e.g. ``"larder.example.com"``.
        port (int): the platform port, e.g. ``443``.
        key (str): the API key.
        path (str | os.PathLike | None): the file (default ``~/.larder/credentials``).

    Returns:
        Path: the credentials file.

    Raises:
        ConfigurationError: when the key is malformed or the file cannot be written.

    Example:
        >>> write_profile("larder.example.com", 443, "0123.abcd")  # doctest: +SKIP
        PosixPath('/home/alice/.larder/credentials')
    """
    import configparser

    key = _check_key(key, "the key to store")
    if not key:
        raise ConfigurationError("The API key to store is empty.")
    target = Path(path) if path is not None else credentials_path()
    folder = target.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    parser = _read_profiles(target) if target.exists() else configparser.ConfigParser(interpolation=None)
    section = profile_name(host, port)
    if not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, PROFILE_KEY_OPTION, key)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                "# Larder API keys by platform, written by 'larder login'. Keep this file private (0600).\n"
            )
            parser.write(f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(
            f"Cannot write {target}: {e.strerror or e}.", details={"path": str(target)}
        ) from None
    return target


class _DropResponseBodies(logging.Filter):
    """Drops botocore's DEBUG ``Response body`` records from one thread: they would hold the key."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == self.thread and str(record.msg).startswith("Response body"))


@contextmanager
def _secret_response_not_logged() -> Iterator[None]:
    """While reading a secret, keep botocore from logging the response body (it logs it at DEBUG)."""
    logger = logging.getLogger("botocore.parsers")
    drop = _DropResponseBodies()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _import_boto3(store: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigurationError(
            f"secrets_store={store!r} reads the API key from AWS and needs boto3, which is not installed: "
            "pip install 'larder-platform[aws]' (or pass api_key_value=..., api_key_file=..., or set LARDER_API_KEY).",
            details={"secrets_store": store, "extra": "aws"},
        ) from None
    return boto3


class _AwsProvider(ApiKeyProvider):
    """Shared AWS plumbing: a boto3 session in the wanted region and the caller's IAM role."""

    store: ClassVar[str]

    def __init__(self, region_name: str | None = DEFAULT_REGION) -> None:
        super().__init__()
        self.region_name = region_name
        self.region: str | None = None
        self.role: str | None = None

    def _session(self) -> Any:
        boto3 = _import_boto3(self.store)
        wanted = None if self.region_name in (None, "", DEFAULT_REGION) else self.region_name
        session = boto3.session.Session(region_name=wanted)
        if not session.region_name:
            raise ConfigurationError(
                f"secrets_store={self.store!r} with region_name='default' uses boto3's default AWS region, "
                "and none is configured; set AWS_DEFAULT_REGION (or 'region' in ~/.aws/config) or pass "
                "region_name='eu-west-1' (your region).",
                details={"secrets_store": self.store},
            )
        self.region = session.region_name
        return session

    def _aws_error(self, e: Exception, what: str) -> Exception:
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )

        where = f"(secrets_store={self.store!r}, region {self.region}" + (
            f", role {self.role})" if self.role else ")"
        )
        details = {"secrets_store": self.store, "region": self.region, "role": self.role}
        if isinstance(e, NoCredentialsError | PartialCredentialsError):
            return ConfigurationError(
                f"No AWS credentials to {what} {where}: run with an IAM role (instance profile, "
                "SageMaker or Databricks role) or set AWS credentials, or pass api_key_value=... / "
                "api_key_file=....",
                details=details,
            )
        if isinstance(e, NoRegionError):
            return ConfigurationError(
                f"No AWS region to {what} {where}; pass region_name=....", details=details
            )
        if isinstance(e, EndpointConnectionError):
            return ConnectionFailedError(f"Could not reach AWS to {what} {where}: {e}.", details=details)
        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            details["aws_error_code"] = err.get("Code")
            return ConfigurationError(
                f"AWS refused to {what} {where}: {err.get('Code')}: {err.get('Message', '')}".rstrip(": ")
                + ". Check that the role may read it.",
                details=details,
            )
        return ConfigurationError(f"Could not {what} {where}: {type(e).__name__}: {e}.", details=details)

    def _caller_role(self, session: Any) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            arn = session.client("sts").get_caller_identity()["Arn"]
        except (BotoCoreError, ClientError) as e:
            raise self._aws_error(e, "find the caller's IAM role with sts.get_caller_identity()") from None
        match = _ASSUMED_ROLE_ARN.match(arn)
        if not match:
            raise ConfigurationError(
                f"secrets_store={self.store!r} finds the API key by the IAM role the process runs as, but "
                f"the caller is {arn}, not an assumed role (arn:aws:sts::<account>:assumed-role/<role>/"
                "<session>). Run with an IAM role (instance profile, SageMaker or Databricks role), or "
                "pass api_key_value=... / api_key_file=....",
                details={"secrets_store": self.store, "region": self.region, "caller_arn": arn},
            )
        self.role = match.group(1)
        return self.role


class SecretsManagerProvider(_AwsProvider):
    """AWS Secrets Manager: the secret ``larder/role/<role>``, JSON field ``api-key``.

    Args:
        region_name (str | None): the AWS region; ``"default"`` (or None) uses boto3's default.
    """

    method = "AWS Secrets Manager"
    store = "secretsmanager"

    def load(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        session = self._session()
        role = self._caller_role(session)
        name = secret_name(role)
        where = f"AWS Secrets Manager secret '{name}' (field '{API_KEY_FIELD}', role {role}, region {self.region})"
        try:
            client = session.client("secretsmanager")
            with _secret_response_not_logged():
                resp = client.get_secret_value(SecretId=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                self.tried = f"{where}: no such secret"
                return None
            raise self._aws_error(e, f"read the secret '{name}'") from None
        except BotoCoreError as e:
            raise self._aws_error(e, f"read the secret '{name}'") from None
        text = resp.get("SecretString")
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ConfigurationError(
                f'The {where} is not a JSON object; store it as {{"{API_KEY_FIELD}": "<key>"}}.',
                details={"secret": name, "role": role, "region": self.region},
            )
        value = data.get(API_KEY_FIELD)
        if not isinstance(value, str) or not value.strip():
            fields = sorted(str(k) for k in data)
            raise ConfigurationError(
                f"The {where} has no field '{API_KEY_FIELD}' (fields: {', '.join(fields) or 'none'}); "
                f'store it as {{"{API_KEY_FIELD}": "<key>"}}.',
                details={"secret": name, "role": role, "region": self.region, "fields": fields},
            )
        self.tried = where
        return _check_key(value, where)


class ParameterStoreProvider(_AwsProvider):
    """AWS SSM Parameter Store: ``/larder/role/<role>/type/api-key``, read with decryption.

    Args:
        region_name (str | None): the AWS region; ``"default"`` (or None) uses boto3's default.
    """

    method = "AWS SSM Parameter Store"
    store = "parameterstore"

    def load(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        session = self._session()
        role = self._caller_role(session)
        name = parameter_name(role)
        where = f"AWS SSM parameter '{name}' (role {role}, region {self.region})"
        try:
            client = session.client("ssm")
            with _secret_response_not_logged():
                resp = client.get_parameter(Name=name, WithDecryption=True)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ParameterNotFound":
                self.tried = f"{where}: no such parameter"
                return None
            raise self._aws_error(e, f"read the parameter '{name}'") from None
        except BotoCoreError as e:
            raise self._aws_error(e, f"read the parameter '{name}'") from None
        value = resp.get("Parameter", {}).get("Value")
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"The {where} is empty.", details={"parameter": name, "role": role})
        self.tried = where
        return _check_key(value, where)


class ApiKeyChain:
    """Ordered providers; the first key found wins.

    Args:
        providers (Sequence[ApiKeyProvider]): the providers, in order.
        target (str): the platform the key is for, for messages (e.g. ``"larder.example.com:443"``).

    Example:
        >>> ApiKeyChain([ValueProvider("k.1")], "h:443").resolve()
        ResolvedApiKey(source='api_key_value')
    """

    def __init__(self, providers: Sequence[ApiKeyProvider], target: str) -> None:
        self.providers = list(providers)
        self.target = target

    def __repr__(self) -> str:
        return f"ApiKeyChain({[p.method for p in self.providers]!r}, target={self.target!r})"

    def resolve(self) -> ResolvedApiKey:
        """Return the first key a provider finds.

        Raises:
            ApiKeyNotFoundError: when no provider has a key; the message lists what was tried.
            ConfigurationError: when an explicitly configured source is broken (see the providers).
        """
        tried: list[str] = []
        for provider in self.providers:
            key = provider.load()
            if key:
                log.debug("Using the API key from %s for %s", provider.tried, self.target)
                return ResolvedApiKey(key, provider.tried)
            tried.append(provider.tried)
        listing = "; ".join(f"{i}) {t}" for i, t in enumerate(tried, 1))
        raise ApiKeyNotFoundError(
            f"No API key found for the Larder platform {self.target}. Tried, in order: {listing}. Pass "
            "api_key_value=... or api_key_file=..., set LARDER_API_KEY, or store a key with "
            f"'larder login --url https://{self.target}'.",
            details={"target": self.target, "tried": tried},
        )


def default_chain(
    host: str,
    port: int,
    api_key_value: str | None = None,
    api_key_file: str | os.PathLike[str] | None = None,
    secrets_store: str = "local",
    region_name: str | None = DEFAULT_REGION,
    credentials_file: str | os.PathLike[str] | None = None,
) -> ApiKeyChain:
    """The standard chain: value > file > env ``LARDER_API_KEY`` > local credentials, or with an
    AWS ``secrets_store``: value > file > the AWS store > env ``LARDER_API_KEY``.

    Args:
        host (str): the platform host (selects the local profile).
        port (int): the platform port (selects the local profile).
        api_key_value (str | None): an API key given directly.
        api_key_file (str | os.PathLike | None): a file holding the key; honoured with every
            ``secrets_store`` (hsfs ignored it unless ``secrets_store="local"``).
        secrets_store (str): ``"local"`` (default), ``"secretsmanager"`` or ``"parameterstore"``.
        region_name (str | None): AWS region for the AWS stores; ``"default"`` = boto3's default.
        credentials_file (str | os.PathLike | None): the local credentials file (default
            ``~/.larder/credentials``).

    Returns:
        ApiKeyChain: call :meth:`ApiKeyChain.resolve` to get the key.

    Raises:
        ConfigurationError: for an unknown ``secrets_store`` (the message lists the allowed ones).

    Example:
        >>> default_chain("h", 443, secrets_store="parameterstore")
        ApiKeyChain(['api_key_value', 'api_key_file', 'AWS SSM Parameter Store', 'env'], target='h:443')
    """
    store: ApiKeyProvider
    if secrets_store == "local":
        store = LocalCredentialsProvider(host, port, credentials_file)
    elif secrets_store == "secretsmanager":
        store = SecretsManagerProvider(region_name)
    elif secrets_store == "parameterstore":
        store = ParameterStoreProvider(region_name)
    else:
        raise ConfigurationError(
            f"Unknown secrets_store {secrets_store!r}; use one of "
            f"{', '.join(repr(s) for s in SECRETS_STORES)}.",
            details={"secrets_store": str(secrets_store), "allowed": list(SECRETS_STORES)},
        )
    # an AWS store is asked for explicitly (the default is "local"): it wins over the environment,
    # so that a stray LARDER_API_KEY cannot replace the key the job was configured with
    providers = [ValueProvider(api_key_value), FileProvider(api_key_file)]
    providers += [EnvProvider(), store] if secrets_store == "local" else [store, EnvProvider()]
    return ApiKeyChain(providers, f"{_host_for_url(host)}:{port}")


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
