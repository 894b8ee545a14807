"""The platform's certificate authority, built on ``cryptography``.

``server init`` creates a CA (EC P-256 key, 10 years) and a server certificate whose SANs cover
``localhost``, ``127.0.0.1``, ``::1`` and the given host names. The server then issues client
certificates for (user, project) pairs: subject ``CN=<project>__<user>`` (cut at 64 characters), ``O=<project>``, ``UID=<user>``,
bundled as PEM and as PKCS#12 keystore/truststore so that Python, Java, Spark and Kafka clients can
all use them.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=825)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(cert_path: Path, key_path: Path, common_name: str = "Larder Platform CA") -> None:
    """Create a self-signed CA certificate (public, 0644) and its key (0600)."""
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Larder"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(_cert_pem(cert))
    os.chmod(cert_path, 0o644)


@dataclass
class CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, cert_path: Path, key_path: Path) -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not an EC private key")
        return cls(cert, key)

    @property
    def pem(self) -> bytes:
        return _cert_pem(self.cert)

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, validity: timedelta):
        now = datetime.now(timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )

    def write_server_certificate(self, cert_path: Path, key_path: Path, hostnames: list[str]) -> None:
        """Issue the server's TLS certificate for localhost, loopback and ``hostnames``."""
        key = _new_key()
        names: list[x509.GeneralName] = []
        seen: set[str] = set()
        for host in ["localhost", "127.0.0.1", "::1", *hostnames]:
            if host in seen:
                continue
            seen.add(host)
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0] if hostnames else "localhost")]
        )
        cert = (
            self._builder(subject, key.public_key(), SERVER_VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(_cert_pem(cert) + self.pem)

    def issue_client_certificate(self, username: str, project: str, validity: timedelta) -> ClientBundle:
        """Issue a client certificate for (user, project) with a fresh key, and bundle it."""
        key = _new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, project),
                x509.NameAttribute(NameOID.USER_ID, username),
                # CN is capped at 64 characters by X.509; O and UID always carry the full names.
                x509.NameAttribute(NameOID.COMMON_NAME, f"{project}__{username}"[:64]),
            ]
        )
        cert = (
            self._builder(subject, key.public_key(), validity)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        password = secrets.token_urlsafe(24)
        enc = serialization.BestAvailableEncryption(password.encode())
        keystore = pkcs12.serialize_key_and_certificates(
            name=f"{project}__{username}".encode(),
            key=key,
            cert=cert,
            cas=[self.cert],
            encryption_algorithm=enc,
        )
        truststore = pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(self.cert, b"larder-ca")], enc
        )
        return ClientBundle(
            serial=format(cert.serial_number, "x"),
            expires_at=cert.not_valid_after_utc,
            client_cert=_cert_pem(cert).decode(),
            client_key=_key_pem(key).decode(),
            ca_chain=self.pem.decode(),
            key_store=base64.b64encode(keystore).decode(),
            trust_store=base64.b64encode(truststore).decode(),
            password=password,
        )


@dataclass
class ClientBundle:
    serial: str
    expires_at: datetime
    client_cert: str
    client_key: str
    ca_chain: str
    key_store: str
    trust_store: str
    password: str

    def __repr__(self) -> str:  # the key and password stay out of reprs
        return f"ClientBundle(serial={self.serial!r}, expires_at={self.expires_at.isoformat()!r})"
