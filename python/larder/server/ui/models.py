"""The web UI's tables: sessions (a signed-in browser) and one-time login links.

They share the platform's declarative ``Base`` (so Alembic and ``create_all`` see them) but live
here, beside the code that uses them. The migration is ``0007_ui_sessions``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from larder.server.db.models import NEVER_REUSE_IDS, ApiKey, Base, UTCDateTime, utcnow


class UISession(Base):
    """A browser signed in with an API key. The cookie holds a random token; only its SHA-256 is
    stored. The session acts with exactly the key's user and scopes, and ends when it expires, is
    revoked (logout, or from the API keys page), or its key is revoked or expires."""

    __tablename__ = "ui_sessions"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    user_agent: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    api_key: Mapped[ApiKey] = relationship(lazy="joined")


class UILoginLink(Base):
    """A one-time, short-lived link that signs a browser in as an API key's user (``larder ui``,
    ``conn.ui_url()``): the URL carries a random token, never the key; only its SHA-256 is stored."""

    __tablename__ = "ui_login_links"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
