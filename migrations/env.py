"""Alembic environment. The URL comes from the caller (policies.db.alembic_config)."""
import importlib

from alembic import context

from policies.db import create_engine, metadata

# Every module that defines tables on the shared MetaData; autogenerate compares against them.
TABLE_MODULES = [
    "policies.tables",
    "interpretations.tables",
]
for _name in TABLE_MODULES:
    importlib.import_module(_name)

target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
