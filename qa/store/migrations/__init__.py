"""Alembic migrations of the results store (``script_location``; see :mod:`qa.store.upgrade`).

Users never run Alembic themselves: opening a :class:`~qa.store.Store` upgrades the database.
A developer adds a revision with the next number and sets ``HEAD_REVISION`` in
``qa/store/schema.py`` to it (a test checks they agree), for example::

    from alembic import command
    from qa.store.upgrade import alembic_config
    command.revision(alembic_config(), "what changes", rev_id="0003")

A migration is frozen once released: it never imports the tables of ``qa/store/schema.py``
(they follow the newest layout) and spells out what it changes.
"""
