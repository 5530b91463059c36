from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tagloop.store.db import open_database
from tagloop.store.tables import Base


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], "tables.py changed without a migration: add one in store/migrations"
    assert set(inspect(database.engine).get_table_names()) >= set(Base.metadata.tables)


def test_opening_twice_is_idempotent_and_uses_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_database(url).dispose()
    database = open_database(url)
    with database.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        fks = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert (mode, fks, version) == ("wal", 1, "0001")
