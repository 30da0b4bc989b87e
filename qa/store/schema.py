"""The tables of the results store as the code uses them, and the migration revision they match.

The layout of a database is made and changed only by the Alembic migrations in
``qa/store/migrations`` (an empty database runs them all); these definitions are what the
queries are written against.  A test checks that the migrated schema and this metadata agree
(``alembic.autogenerate.compare_metadata`` finds no difference) on SQLite and PostgreSQL, and that
:data:`HEAD_REVISION` is the migration scripts' head.  Keeping the head here lets opening an
up-to-date database check its revision with plain SQLAlchemy, without importing Alembic.
"""

from __future__ import annotations

import sqlalchemy as sa

from qa.store.timestamps import UtcDateTime

# The newest migration revision: a database at this revision needs no upgrade.
HEAD_REVISION = "0003"

# ``qa_meta.schema_version`` written by the head revision.  qa 0.1.0 accepts only "2" and so
# refuses a database upgraded by this code instead of misreading its timestamps ("3": revision
# 0002, time-zone-aware timestamps; "4": revision 0003, scanner identities).
SCHEMA_VERSION = "4"

# The value qa 0.1.0 wrote (revision 0001): a database holding it and no ``alembic_version``
# is stamped 0001 and upgraded on first use.
SCHEMA_VERSION_0_1_0 = "2"

metadata = sa.MetaData()

scanners = sa.Table(
    "scanners", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("manufacturer", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("serial", sa.Text, nullable=False),  # "" when the images carry none (or a placeholder)
    sa.Column("station_name", sa.Text),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    # What identifies the scanner (qa.records.identity.IDENTITY_BASES) and its normalised key
    # (ScannerIdentity.key): one row per key (revision 0003).
    sa.Column("identity_basis", sa.Text, nullable=False),
    sa.Column("identity_key", sa.Text, nullable=False),
    sa.Column("device_uid", sa.Text),
    sa.UniqueConstraint("identity_key", name="uq_scanner_identity_key"),
)

phantom_runs = sa.Table(
    "phantom_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    sa.Column("series_instance_uid", sa.Text, nullable=False),
    sa.Column("acquired_at", UtcDateTime),
    sa.Column("analysed_at", UtcDateTime, nullable=False),
    sa.Column("qa_version", sa.Text, nullable=False),
    sa.Column("procedure_id", sa.Text, nullable=False),
    sa.Column("procedure_sha256", sa.Text, nullable=False),
    sa.Column("phantom_id", sa.Text, nullable=False),
    sa.Column("settings_key", sa.Text, nullable=False),
    sa.Column("configuration_key", sa.Text, nullable=False),
    sa.Column("protocol_ok", sa.Boolean, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    # One run per series and configuration: re-analysing replaces (a new procedure file or toolkit
    # version included), other scoring settings make another configuration.
    sa.UniqueConstraint("scanner_id", "series_instance_uid", "configuration_key", name="uq_phantom_run"),
)

phantom_metrics = sa.Table(
    "phantom_metrics", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("value", sa.Float),
)

phantom_checks = sa.Table(
    "phantom_checks", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("phantom_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("check_id", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("measured", sa.Text),
    sa.Column("expected", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("source", sa.Text),
)

baselines = sa.Table(
    "baselines", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scanner_id", sa.Integer, sa.ForeignKey("scanners.id"), nullable=False),
    sa.Column("configuration_key", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("run_ids", sa.Text, nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.UniqueConstraint("scanner_id", "configuration_key", "version", name="uq_baseline_version"),
)

qa_meta = sa.Table(
    "qa_meta", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("scanner_id", sa.Integer),
    sa.Column("details", sa.Text),
)

# The tables qa has ever created: a database holding any of them is a qa database.
QA_TABLES = frozenset(metadata.tables)
