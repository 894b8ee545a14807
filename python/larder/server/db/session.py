"""Engine and session factory, and schema upgrades with Alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL (``postgresql+psycopg://...``)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest Alembic revision (idempotent).

    On SQLite the migrations run with foreign keys off, as SQLite requires for the table rebuilds
    that change a table's definition (dropping the old table would otherwise cascade its deletes
    to the rows that reference it); the keys are checked before the upgrade commits.

    Raises:
        ConfigurationError: when a SQLite upgrade would leave a row whose foreign key is broken.
    """
    from alembic import command
    from alembic.config import Config

    from larder.errors import ConfigurationError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # outside any transaction: SQLite ignores this pragma inside one
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()  # ends SQLAlchemy's autobegun transaction (pysqlite sent no BEGIN)
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise ConfigurationError(
                            f"Upgrading {engine.url.database} would break {len(broken)} foreign key(s) "
                            f"(first: {tuple(broken[0])}); the database was left as it was.",
                        )
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
