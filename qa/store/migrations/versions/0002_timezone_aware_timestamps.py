"""Store v2: time-zone-aware timestamps, stored as UTC; ``qa_meta.schema_version`` "3".

Revision ID: 0002
Revises: 0001

The five timestamp columns (``scanners.first_seen``, ``phantom_runs.acquired_at``,
``phantom_runs.analysed_at``, ``baselines.created_at``, ``audit_events.at``) change from text to
``DateTime(timezone=True)`` (``TIMESTAMPTZ`` on PostgreSQL), and every stored value is converted:

* a value with a UTC offset keeps its instant;
* a value without one (qa 0.1.0 stored the DICOM acquisition date-time as the scanner wrote it)
  is the site's local time: it is read in the local time zone of the computer running this
  upgrade (``datetime.astimezone()`` on the naive value);
* a value that is not ISO 8601 stops the upgrade (``ValueError`` naming table, column, row and
  value); qa rolls the whole transaction back, so nothing is changed.

Each value is first rewritten, still as text, to its UTC instant in the form the new column type
reads (PostgreSQL: ISO 8601 with "+00:00", then ``ALTER COLUMN ... TYPE timestamptz USING``;
SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", the text SQLAlchemy's SQLite ``DATETIME`` holds), then the
column type changes.  On SQLite that means rebuilding the table; the new declared types are
given as reflection overrides, never as an ``alter_column`` type change, because Alembic would
then copy the rows through ``CAST(value AS DATETIME)``, which SQLite evaluates with numeric
affinity: "2026-03-01 06:30:00" becomes the number 2026.  qa runs this with SQLite's foreign
keys off, so that dropping the old ``phantom_runs`` does not cascade-delete its metrics and checks.

Finally ``qa_meta.schema_version`` becomes "3": qa 0.1.0 accepts only "2" and so refuses the
upgraded database instead of misreading its timestamps.  There is no downgrade: keep a copy of
the 0.1.0 database if you may need to go back.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Converted in this order; every table has an integer primary key "id".
TIMESTAMP_COLUMNS = (
    ("scanners", ("first_seen",)),
    ("phantom_runs", ("acquired_at", "analysed_at")),
    ("baselines", ("created_at",)),
    ("audit_events", ("at",)),
)
NULLABLE = {("phantom_runs", "acquired_at")}
UTC = dt.timezone.utc


def upgrade() -> None:
    bind = op.get_bind()
    on_sqlite = bind.dialect.name == "sqlite"
    for table, columns in TIMESTAMP_COLUMNS:
        _rewrite_as_utc_text(bind, table, columns, on_sqlite)
        if on_sqlite:
            overrides = [sa.Column(c, sa.DateTime(timezone=True), nullable=(table, c) in NULLABLE) for c in columns]
            with op.batch_alter_table(table, recreate="always", reflect_args=overrides):
                pass
        else:
            for column in columns:
                op.alter_column(table, column, type_=sa.DateTime(timezone=True), existing_type=sa.Text(),
                                existing_nullable=(table, column) in NULLABLE, postgresql_using=f'"{column}"::timestamptz')
    meta = sa.table("qa_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    if bind.execute(meta.update().where(meta.c.key == "schema_version").values(value="3")).rowcount == 0:
        bind.execute(meta.insert().values(key="schema_version", value="3"))


def downgrade() -> None:
    raise NotImplementedError("qa store v2 (revision 0002) cannot be downgraded: restore the copy of the qa 0.1.0 database")


def _rewrite_as_utc_text(bind, table: str, columns: tuple[str, ...], on_sqlite: bool) -> None:
    """Every value of ``columns`` rewritten, still as text, to its UTC instant (see the docstring)."""
    rows_table = sa.table(table, sa.column("id", sa.Integer), *[sa.column(c, sa.Text) for c in columns])
    updates = []
    for row in bind.execute(sa.select(rows_table).order_by(rows_table.c.id)).all():
        values = {}
        for column in columns:
            text = row._mapping[column]
            if text is not None:
                instant = _utc_instant(text, f"{table}.{column} of the row with id {row.id}")
                text = _sqlite_text(instant) if on_sqlite else instant.isoformat()
            values[f"new_{column}"] = text
        updates.append({"row_id": row.id, **values})
    if updates:
        statement = (rows_table.update().where(rows_table.c.id == sa.bindparam("row_id"))
                     .values(**{c: sa.bindparam(f"new_{c}") for c in columns}))
        bind.execute(statement, updates)


def _utc_instant(text, where: str) -> dt.datetime:
    """The UTC instant of a stored ISO 8601 text; naive text is local time of this computer."""
    try:
        value = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{where} holds {text!r}, which is not an ISO 8601 date and time") from None
    if value.utcoffset() is None:
        value = value.astimezone()  # the site's local wall-clock time
    return value.astimezone(UTC)


def _sqlite_text(instant: dt.datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME writes for this (UTC) value."""
    return (f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d} "
            f"{instant.hour:02d}:{instant.minute:02d}:{instant.second:02d}.{instant.microsecond:06d}")
