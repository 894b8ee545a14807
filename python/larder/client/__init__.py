"""Talking to a platform: the REST session, API-key sources, certificates, the embedded platform."""
