from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from larder.server.security.ca import CertificateAuthority, create_ca


def test_ca_issues_verifiable_client_certificates(tmp_path):
    create_ca(tmp_path / "ca.pem", tmp_path / "ca.key")
    assert oct((tmp_path / "ca.key").stat().st_mode & 0o777) == "0o600"
    ca = CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca.key")
    bundle = ca.issue_client_certificate("alice", "fraud", timedelta(days=2))
    cert = x509.load_pem_x509_certificate(bundle.client_cert.encode())
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == "alice"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "fraud"
    left = cert.not_valid_after_utc - datetime.now(timezone.utc)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)
    assert bundle.password not in repr(bundle) and "PRIVATE" not in repr(bundle)


def test_server_certificate_names_loopback_and_extra_hosts(tmp_path):
    create_ca(tmp_path / "ca.pem", tmp_path / "ca.key")
    ca = CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca.key")
    ca.write_server_certificate(tmp_path / "s.pem", tmp_path / "s.key", ["larder.example.com", "10.1.2.3"])
    cert = x509.load_pem_x509_certificate((tmp_path / "s.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "larder.example.com"} <= set(san.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "10.1.2.3"} <= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def test_pkcs12_stores_open_with_the_password(tmp_path):
    import base64

    create_ca(tmp_path / "ca.pem", tmp_path / "ca.key")
    ca = CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca.key")
    b = ca.issue_client_certificate("bob", "proj", timedelta(days=1))
    key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(b.key_store), b.password.encode())
    assert key is not None and cert is not None and extra and extra[0] == ca.cert
    store = pkcs12.load_pkcs12(base64.b64decode(b.trust_store), b.password.encode())
    assert store.additional_certs[0].certificate == ca.cert


def test_long_project_and_user_names_fit_the_subject(tmp_path):
    create_ca(tmp_path / "ca.pem", tmp_path / "ca.key")
    ca = CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca.key")
    project, user = "p" * 63, "u" * 32
    cert = x509.load_pem_x509_certificate(
        ca.issue_client_certificate(user, project, timedelta(days=1)).client_cert.encode()
    )
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == project
    assert cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == user
    assert len(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value) == 64
