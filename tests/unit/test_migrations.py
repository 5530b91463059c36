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
    assert (mode, fks, version) == ("wal", 1, "0004")


def test_iterations_from_0001_upgrade_as_quick_trainings(tmp_path: Path) -> None:
    """A database made before advanced training keeps its iterations, now typed quick."""
    import sqlalchemy as sa
    from alembic import command

    from tagloop.store.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql(
            "INSERT INTO projects (id, name, description, classification_type, domain_id, "
            "backbone, training_key, prediction_key, created, last_modified) VALUES "
            "('p', 'p', '', 'Multiclass', 'd', 'b', 'tk', 'pk', '2026-01-01', '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO iterations (id, project_id, number, name, status, classification_type,"
            " domain_id, backbone, created, last_modified, training_seconds, fingerprint, tags)"
            " VALUES ('i', 'p', 1, 'Iteration 1', 'Completed', 'Multiclass', 'd', 'b',"
            " '2026-01-01', '2026-01-01', 1.0, 'f', '[]')"
        )
    engine.dispose()
    database = open_database(url)
    with database.engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT training_type, budget_seconds FROM iterations WHERE id = 'i'"
        ).one()
    assert tuple(row) == ("quick", None)
