"""Alembic environment of the qa results store.

Runs the migrations on the connection qa hands over in ``config.attributes["connection"]``
(already inside the transaction qa commits or rolls back as a whole); it never makes an engine
of its own and has no offline (SQL script) mode.
"""

from alembic import context

from qa.store.schema import metadata

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError("the qa migrations run through qa.store (opening a Store upgrades the database); "
                       "there is no alembic.ini and no offline mode")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
