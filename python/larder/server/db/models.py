"""SQLAlchemy 2 models of the platform's metadata.

Every schema change gets an Alembic migration in ``migrations/versions``; the server upgrades the
database to ``head`` when it starts.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_online_table() -> str:
    """A fresh online-store table name: ``fg_`` and 24 random hex digits."""
    return "fg_" + secrets.token_hex(12)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


# Ids are handles (online tables, cached serving plans, permissions name rows by id): a deleted
# row's id must never be handed out again. PostgreSQL sequences never reuse; SQLite reuses the
# largest id after a delete unless the table is AUTOINCREMENT (migration 0006).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class User(Base):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # the auth service whose token created this user on first sight (None: a local user)
    federated_issuer: Mapped[str | None] = mapped_column(String(255), nullable=True)


class SigningKey(Base):
    """An Ed25519 key of the auth service: it signs access tokens while ``retired_at`` is None, and
    verifies them until ``verify_until`` (set when it is rotated out: its last tokens' expiry). The
    private key is a PEM encrypted with the home's secret box; ``public_jwk`` is its JWK (JSON)."""

    __tablename__ = "signing_keys"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    private_key: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verify_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:  # never the private key
        return f"SigningKey(kid={self.kid!r}, retired_at={self.retired_at!r})"


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    namespace_id: Mapped[int | None] = mapped_column(ForeignKey("namespaces.id"), nullable=True)

    owner: Mapped[User] = relationship(lazy="joined")
    namespace: Mapped[Namespace | None] = relationship(lazy="joined")
    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan", lazy="selectin"
    )


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("user_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    scopes: Mapped[str] = mapped_column(String(256), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class IssuedCertificate(Base):
    """An audit record of every client certificate the CA issued."""

    __tablename__ = "issued_certificates"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ObjectStore(Base):
    """An admin-registered object store: a local directory, or an S3-compatible service."""

    __tablename__ = "object_stores"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    root_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    endpoint_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    sts_endpoint_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    access_key_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    secret_access_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    role_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Namespace(Base):
    """A bucket (or top folder of a local store) that holds datasets."""

    __tablename__ = "namespaces"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    object_store_id: Mapped[int] = mapped_column(ForeignKey("object_stores.id"), nullable=False)
    bucket: Mapped[str] = mapped_column(String(63), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    object_store: Mapped[ObjectStore] = relationship(lazy="joined")


class Dataset(Base):
    """A named prefix ``<name>/`` in a namespace, with an owner and permissions."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("namespace_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # sync (see larder.server.sync): "simplex"/"duplex" while this dataset sends its changes to
    # its namespace's sync targets, else None; the policy selecting what syncs, as JSON ("" = all)
    sync_type: Mapped[str | None] = mapped_column(String(8), nullable=True)
    sync_policy: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    # where it receives changes from: "<server url>#<namespace>" of the origin, else None
    sync_source: Mapped[str | None] = mapped_column(String(2100), nullable=True)

    namespace: Mapped[Namespace] = relationship(lazy="joined")
    owner: Mapped[User] = relationship(lazy="joined")
    permissions: Mapped[list[DatasetPermission]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", lazy="selectin"
    )


class DatasetPermission(Base):
    """``r`` or ``rw`` on a dataset for a user, or for a group (the members of a project)."""

    __tablename__ = "dataset_permissions"
    __table_args__ = (UniqueConstraint("dataset_id", "user_id", "project_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    access: Mapped[str] = mapped_column(String(2), nullable=False)

    dataset: Mapped[Dataset] = relationship(back_populates="permissions")
    user: Mapped[User | None] = relationship(lazy="joined")
    project: Mapped[Project | None] = relationship(lazy="joined")


class ObjectEntry(Base):
    """The index of objects written through Larder: size, etag, time and user metadata."""

    __tablename__ = "objects"
    __table_args__ = (UniqueConstraint("dataset_id", "key"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    etag: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    metadata_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    # the server whose write this version is ("" = this one): with last_modified, the version's
    # (timestamp, server) that last-writer-wins compares between linked servers
    origin: Mapped[str] = mapped_column(String(2100), nullable=False, default="", server_default="")

    dataset: Mapped[Dataset] = relationship(lazy="joined")
    tags: Mapped[list[ObjectTag]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ObjectTag(Base):
    """One user-metadata pair of an object, indexed for search."""

    __tablename__ = "object_tags"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"), nullable=False)
    k: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    v: Mapped[str] = mapped_column(String(1024), nullable=False)


class FeatureGroup(Base):
    """A versioned feature group: catalog metadata; its data is a Delta table in the project's
    feature store dataset (``<project>_featurestore/<name>_<version>``)."""

    __tablename__ = "feature_groups"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    primary_key_json: Mapped[str] = mapped_column(Text, nullable=False)
    event_time: Mapped[str | None] = mapped_column(String(128), nullable=True)
    partition_key_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    online_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    statistics_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    schema_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the name of its rows in the online store: random per group, never derived from the id
    online_table: Mapped[str] = mapped_column(
        String(64), unique=True, nullable=False, default=new_online_table
    )
    # the newest Delta version the catalog has accounted for (recorded, or seen to change no data)
    reconciled_version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=-1, server_default="-1"
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(lazy="joined")


class FeatureGroupCommit(Base):
    """One committed write to a feature group's Delta table, with its statistics."""

    __tablename__ = "feature_group_commits"
    __table_args__ = (UniqueConstraint("feature_group_id", "delta_version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature_group_id: Mapped[int] = mapped_column(
        ForeignKey("feature_groups.id", ondelete="CASCADE"), nullable=False
    )
    delta_version: Mapped[int] = mapped_column(Integer, nullable=False)
    operation: Mapped[str] = mapped_column(String(16), nullable=False)
    rows_inserted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_updated: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_deleted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    statistics_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # the id the writer put in the Delta commit's metadata (``larder.write_id``); None for commits
    # made by other tools
    write_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # registered by the server from the Delta log, because no writer recorded it (a writer that
    # crashed or lost the server between its Delta commit and its POST, or another tool)
    recovered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=sa_false())


class WriteLease(Base):
    """Who may write a table now: one writer per ``resource`` (``feature_group:<id>``) until
    ``expires_at``, renewed while it writes. Serializes the Delta commits of every writer that goes
    through Larder, on stores where delta-rs cannot detect concurrent commits (S3) as well."""

    __tablename__ = "write_leases"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    holder: Mapped[User] = relationship(lazy="joined")


class FeatureView(Base):
    """A versioned feature view: a (point-in-time) query over feature groups, and its labels."""

    __tablename__ = "feature_views"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    query_json: Mapped[str] = mapped_column(Text, nullable=False)
    labels_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    # the transformation functions the view applies (a JSON list of their definitions)
    transformations_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]", server_default="[]")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")


class TransformationFunction(Base):
    """A transformation function a project registered by name and version (its definition: the
    udf's source, types and arguments, as the client's ``HopsworksUdf.to_dict()`` gives it)."""

    __tablename__ = "transformation_functions"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    definition_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class TrainingDataset(Base):
    """A materialized, immutable training dataset of a feature view version."""

    __tablename__ = "training_datasets"
    __table_args__ = (UniqueConstraint("feature_view_id", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature_view_id: Mapped[int] = mapped_column(
        ForeignKey("feature_views.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    location: Mapped[str] = mapped_column(Text, nullable=False)
    metadata_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class RegisteredModel(Base):
    """A model name in a project's registry; ``last_version`` hands out version numbers atomically
    (``UPDATE ... SET last_version = last_version + 1 ... RETURNING``), so numbers are never reused."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    last_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ModelVersion(Base):
    """One version of a model: catalog metadata; its artifacts live in the project's models dataset
    under ``<name>/<version>/``. ``status`` is ``pending`` while uploading (invisible to readers),
    ``ready`` once every artifact is recorded, ``deleting`` while its objects are being removed."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", index=True)
    framework: Mapped[str] = mapped_column(String(32), nullable=False, default="python")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    metrics_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    model_schema_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_example_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    feature_store: Mapped[str | None] = mapped_column(String(80), nullable=True)
    feature_view_name: Mapped[str | None] = mapped_column(String(63), nullable=True)
    feature_view_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    training_dataset_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    upload_token: Mapped[str] = mapped_column(String(64), nullable=False)
    file_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    model: Mapped[RegisteredModel] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(lazy="joined")


class ModelArtifact(Base):
    """One artifact file of a model version: its path under ``<name>/<version>/``, size and checksum
    (``checksum_algorithm``: ``sha256`` or ``blake3``; for files uploaded in parts, the part size,
    each part's checksum, and as ``checksum`` the composite: the hash of the part digests)."""

    __tablename__ = "model_artifacts"
    __table_args__ = (UniqueConstraint("model_version_id", "path"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    )
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    checksum: Mapped[str] = mapped_column(String(64), nullable=False)
    checksum_algorithm: Mapped[str] = mapped_column(String(16), nullable=False, server_default="sha256")
    part_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    parts_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class ModelVersionTag(Base):
    """A tag of a model version: a name and a JSON value."""

    __tablename__ = "model_version_tags"
    __table_args__ = (UniqueConstraint("model_version_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    value_json: Mapped[str] = mapped_column(Text, nullable=False)


# --- sync between linked servers (see larder.server.sync) ---------------------------------------


class SyncPeer(Base):
    """The credential this server uses on another server's API (a sync target): an API key kept
    encrypted with the home's ``tls/secrets.key``, and the CA bundle that verifies that server."""

    __tablename__ = "sync_peers"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True, nullable=False)
    api_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    ca_pem: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class SyncTarget(Base):
    """A namespace's sync target: another server's (or this server's) namespace, simplex or duplex."""

    __tablename__ = "sync_targets"
    __table_args__ = (
        UniqueConstraint("namespace_id", "target_core_service", "target_namespace"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False)
    target_core_service: Mapped[str] = mapped_column(String(2048), nullable=False)
    target_namespace: Mapped[str] = mapped_column(String(63), nullable=False)
    sync_type: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    namespace: Mapped[Namespace] = relationship(lazy="joined")


class SyncOutbox(Base):
    """One change to send to one target, written in the transaction that records the change;
    removed when the target has applied it. Rows of a (dataset, target) go in id order per key."""

    __tablename__ = "sync_outbox"
    __table_args__ = (Index("ix_sync_outbox_stream", "dataset_id", "target_id", "key", "id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    target_id: Mapped[int] = mapped_column(ForeignKey("sync_targets.id", ondelete="CASCADE"), nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)  # "put" | "delete"
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    # the version: its time (UTC) and the server whose write it is
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    origin: Mapped[str] = mapped_column(String(2100), nullable=False)
    repair: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    failed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class SyncObject(Base):
    """What a target holds of one key, as this server last sent (or received) it: the basis that
    reconciliation compares both sides' listings with."""

    __tablename__ = "sync_objects"
    __table_args__ = (UniqueConstraint("target_id", "dataset_id", "key"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    target_id: Mapped[int] = mapped_column(ForeignKey("sync_targets.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    etag: Mapped[str] = mapped_column(String(128), nullable=False)  # here
    target_etag: Mapped[str] = mapped_column(String(128), nullable=False)  # there
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    seen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # reconciliation pass


class SyncTombstone(Base):
    """A deleted key's version, so that an older copy arriving later does not bring it back."""

    __tablename__ = "sync_tombstones"
    __table_args__ = (UniqueConstraint("dataset_id", "key"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    origin: Mapped[str] = mapped_column(String(2100), nullable=False)


class SyncState(Base):
    """Per dataset and target: counters, the last error and the last reconciliation."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("dataset_id", "target_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    target_id: Mapped[int] = mapped_column(ForeignKey("sync_targets.id", ondelete="CASCADE"), nullable=False)
    copied: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    copied_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    deleted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_reconcile_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


class SyncConflict(Base):
    """A key written on both sides before either had synced: which version won (last writer by
    (time, server)) and which lost."""

    __tablename__ = "sync_conflicts"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    winner_origin: Mapped[str] = mapped_column(String(2100), nullable=False)
    winner_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    loser_origin: Mapped[str] = mapped_column(String(2100), nullable=False)
    loser_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
