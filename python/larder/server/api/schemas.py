"""Pydantic schemas at the REST boundary. Request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from larder.names import API_KEY_NAME_PATTERN, PROJECT_NAME_PATTERN, USER_NAME_PATTERN

Scope = Literal["project", "featurestore", "modelregistry", "dataset", "admin"]
PlatformRole = Literal["admin", "privileged", "user"]
ProjectRole = Literal["data_owner", "data_scientist"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    error_code: str
    message: str
    details: dict[str, object] = Field(default_factory=dict)


class VersionOut(BaseModel):
    version: str
    api_version: str


class UserCreate(Strict):
    username: str = Field(pattern=USER_NAME_PATTERN, max_length=32)
    email: str = Field(default="", max_length=254)
    role: PlatformRole = "user"


class UserOut(BaseModel):
    username: str
    email: str
    role: str
    created_at: datetime


class ProjectCreate(Strict):
    name: str = Field(pattern=PROJECT_NAME_PATTERN, max_length=63)
    description: str = Field(default="", max_length=2000)


class MemberOut(BaseModel):
    username: str
    role: str


class ProjectOut(BaseModel):
    name: str
    description: str
    owner: str
    created_at: datetime
    members: list[MemberOut]


class MemberSet(Strict):
    role: ProjectRole


class ApiKeyCreate(Strict):
    name: str = Field(pattern=API_KEY_NAME_PATTERN, max_length=64)
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    user: str | None = Field(default=None, pattern=USER_NAME_PATTERN, max_length=32)


class ApiKeyOut(BaseModel):
    name: str
    prefix: str
    user: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret API key. Shown once; store it safely.")


class CredentialsOut(BaseModel):
    user: str
    project: str
    serial: str
    expires_at: datetime
    client_cert: str = Field(description="PEM client certificate")
    client_key: str = Field(description="PEM PKCS#8 private key of the client certificate")
    ca_chain: str = Field(description="PEM CA certificate chain")
    key_store: str = Field(description="PKCS#12 keystore (key + certificate + CA), base64")
    trust_store: str = Field(description="PKCS#12 truststore (the CA), base64")
    password: str = Field(description="Password of both PKCS#12 stores")
