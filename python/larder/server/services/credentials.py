"""Project credentials: X.509 client certificates for (user, project), issued by the platform CA."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from larder.server.db.models import IssuedCertificate
from larder.server.security.authz import Principal
from larder.server.security.ca import CertificateAuthority, ClientBundle
from larder.server.services import projects


def issue(
    db: Session, principal: Principal, ca: CertificateAuthority, project_name: str, validity_days: int
) -> ClientBundle:
    principal.require_scope("project")
    project = projects.get_visible(db, principal, project_name)
    bundle = ca.issue_client_certificate(principal.username, project.name, timedelta(days=validity_days))
    db.add(
        IssuedCertificate(
            serial=bundle.serial,
            user_id=principal.user_id,
            project_id=project.id,
            expires_at=bundle.expires_at,
        )
    )
    db.commit()
    return bundle
