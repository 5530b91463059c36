"""Alembic environment: runs on the connection tagloop hands over (``config.attributes``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tagloop.store.tables import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` command line: TAGLOOP_DATABASE_URL or the default settings
    from tagloop.config import load_settings

    engine = create_engine(load_settings().resolved_database_url())
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
