"""Talking to a platform: the REST session, API-key sources, access tokens (:class:`AuthService`),
certificates, the embedded platform."""

from larder.client.auth import AuthService

__all__ = ["AuthService"]
